"""The namespace harness itself: hosts that share nothing reach the db host's services over
the bridge, a cut host is really cut off, and nothing the harness made outlives it."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.netns import (
    Host,
    Network,
    PrivateService,
    namespaces_available,
    services_available,
    start_postgres,
    start_redis,
    start_s3,
)

pytestmark = pytest.mark.slow

# Runs inside a client host: all three services of the db host, end to end.
ALL_SERVICES = """
import sys, boto3, psycopg, redis
pg, rd, s3 = sys.argv[1:4]
with psycopg.connect(pg.replace("+psycopg", ""), connect_timeout=5) as db:
    assert db.execute("SELECT 1").fetchone() == (1,)
assert redis.Redis.from_url(rd, socket_connect_timeout=2, socket_timeout=2).ping()
client = boto3.client("s3", endpoint_url=s3, aws_access_key_id="k", aws_secret_access_key="s",
                      region_name="us-east-1")
bucket = sys.argv[4]
client.create_bucket(Bucket=bucket)
client.put_object(Bucket=bucket, Key="hello.txt", Body=b"hello")
assert client.get_object(Bucket=bucket, Key="hello.txt")["Body"].read() == b"hello"
print("OK")
"""
REDIS_PING = """
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=2, socket_timeout=2).ping()
print("OK")
"""
# Hosts must not inherit a proxy they cannot reach.
CLIENT_ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


@dataclass
class Lab:
    """The network, its three hosts and the db host's services."""

    network: Network
    db: Host
    clients: list[Host]
    postgres: PrivateService
    redis: PrivateService
    s3: PrivateService


def _python(host: Host, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return host.run([sys.executable, "-c", script, *args], timeout=60, env=CLIENT_ENV)


def _leftovers(network: Network) -> list[str]:
    """Namespaces and links of network that still exist."""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                           check=True).stdout.split()
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                           check=True).stdout
    return ([h.netns for h in network.hosts if h.netns in netns]
            + [name for name in [network.bridge, *(h.veth for h in network.hosts)]
               if f" {name}:" in links or f" {name}@" in links])


def _skip_without_namespaces() -> None:
    if reason := namespaces_available() or services_available():
        pytest.skip(reason)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A db host running Postgres, Redis and S3, and two client hosts."""
    _skip_without_namespaces()
    pg_folder = Path("/tmp") / f"vf-netns-pg-{secrets.token_hex(4)}"  # postgres must reach it
    try:
        with Network(tmp_path_factory.mktemp("netns-logs")) as network:
            db = network.add_host("db")
            clients = [network.add_host("w1"), network.add_host("w2")]
            yield Lab(network, db, clients, start_postgres(db, pg_folder), start_redis(db),
                      start_s3(db))
    finally:
        shutil.rmtree(pg_folder, ignore_errors=True)
    assert _leftovers(network) == []


def test_client_hosts_reach_postgres_redis_and_s3_on_the_db_host(lab: Lab) -> None:
    """Every client namespace runs SELECT 1, PING and an S3 put/get against the db host."""
    for client in lab.clients:
        done = _python(client, ALL_SERVICES, lab.postgres.url, lab.redis.url, lab.s3.url,
                       f"vf-{client.name}-{secrets.token_hex(3)}")
        assert done.stdout.strip() == "OK", done.stderr


def test_a_cut_host_loses_redis_while_the_others_keep_it(lab: Lab) -> None:
    """After cut() one host's PING fails within seconds, the other's works; restore() heals."""
    cut, other = lab.clients
    cut.cut()
    try:
        started = time.monotonic()
        failed = _python(cut, REDIS_PING, lab.redis.url)
        assert failed.returncode != 0 and "OK" not in failed.stdout
        assert "Timeout" in failed.stderr or "unreachable" in failed.stderr, failed.stderr
        assert time.monotonic() - started < 15
        kept = _python(other, REDIS_PING, lab.redis.url)
        assert kept.stdout.strip() == "OK", kept.stderr
    finally:
        cut.restore()
    again = _python(cut, REDIS_PING, lab.redis.url)
    assert again.stdout.strip() == "OK", again.stderr


def test_leaving_the_network_removes_everything_even_after_an_error(tmp_path: Path) -> None:
    """An exception inside `with Network()` still kills its processes and deletes its links."""
    _skip_without_namespaces()
    pg_folder = Path("/tmp") / f"vf-netns-pg-{secrets.token_hex(4)}"
    try:
        with pytest.raises(RuntimeError, match="boom"):
            with Network(tmp_path) as network:
                host = network.add_host("db")
                start_postgres(host, pg_folder)
                start_redis(host)
                sleeper = host.popen(["sleep", "600"])
                assert _leftovers(network) == [host.netns, network.bridge, host.veth]
                raise RuntimeError("boom")
    finally:
        shutil.rmtree(pg_folder, ignore_errors=True)
    assert sleeper.poll() is not None
    assert _leftovers(network) == []
