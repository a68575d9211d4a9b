"""Postgres stopped for 30 s in the middle of a render: the render completes, and the rows
are right once Postgres is back. Runs its own Postgres cluster, so it may stop it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests

from bench.fleet import private_redis_db
from store.migrate import upgrade
from tests.conftest import REDIS_SERVER_URL
from tests.e2e.conftest import VIDEOFACTORY, _start, _stop, _wait_for_workers, free_port
from tests.support.ideas import idea_source

pytestmark = pytest.mark.slow
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)


class Cluster:
    """A throwaway Postgres cluster owned by the postgres user, on a free port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True,
                       capture_output=True, timeout=120)

    def create(self) -> None:
        self.folder.mkdir(parents=True)
        shutil.chown(self.folder, "postgres", "postgres")
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.folder / "data"), "-A",
                          "trust", "-U", "postgres")
        self.start()

    def start(self) -> None:
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), "-w", "-l",
                          str(self.folder / "log"), "-o",
                          f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1",
                          "start")

    def stop(self) -> None:
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), "-w",
                          "-m", "fast", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A private Postgres cluster, removed afterwards."""
    if os.geteuid() != 0 or PG_BIN is None or shutil.which("runuser") is None:
        pytest.skip("needs root, runuser and PostgreSQL binaries to run a private cluster")
    folder = Path("/tmp") / f"vf-pg-{os.getpid()}-{free_port()}"
    cluster = Cluster(folder)
    cluster.create()
    try:
        yield cluster
    finally:
        try:
            cluster.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def own_redis_url() -> Iterator[str]:
    """A Redis DB number no other fleet of the session consumes from."""
    with private_redis_db(REDIS_SERVER_URL) as url:
        yield url


def test_render_survives_a_postgres_outage(cluster: Cluster, own_redis_url: str,
                                           tmp_path: Path) -> None:
    """Workers keep rendering through 30 s without Postgres and write their state afterwards."""
    redis_url = own_redis_url
    upgrade(cluster.url)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update({"DATABASE_URL": cluster.url, "REDIS_URL": redis_url,
                "DATA_DIR": str(tmp_path / "data"), "MEDIA_ROOT": str(tmp_path / "media"),
                "EXPORT_DIR": str(tmp_path / "exports"), "API_PORT": str(port),
                "REDIS_KEY_PREFIX": "vf-pgout", "STAGE_LEASE_SECONDS": "6",
                "RECONCILE_INTERVAL": "1"})
    key = subprocess.run([VIDEOFACTORY, "accounts", "create", "outage"], env=env, check=True,
                         capture_output=True, text=True, timeout=60).stdout.split()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    processes = [_start(["serve"], env, tmp_path / "api.log"),
                 _start(["worker", "--pool", "cpu", "--name", "cpu-out"], env,
                        tmp_path / "cpu.log"),
                 _start(["worker", "--pool", "gpu", "--name", "gpu-out"], env,
                        tmp_path / "gpu.log")]
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_workers(env, ["cpu-out", "gpu-out"])
        job_id = requests.post(f"{base}/v1/jobs", headers=headers, timeout=10, json={
            "source": idea_source("Why cold brew tastes smoother")}).json()["id"]
        deadline = time.monotonic() + 300
        while requests.get(f"{base}/v1/jobs/{job_id}", headers=headers,
                           timeout=10).json()["stages"]["render"]["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.3)
        cluster.stop()
        down_since = time.monotonic()
        during = requests.get(f"{base}/v1/jobs/{job_id}", headers=headers, timeout=30)
        assert during.status_code == 503
        assert during.json()["error"]["code"] == "database_unavailable"
        time.sleep(max(0.0, 30 - (time.monotonic() - down_since)))
        cluster.start()
        while True:
            body = requests.get(f"{base}/v1/jobs/{job_id}", headers=headers, timeout=30).json()
            if body.get("status") in ("succeeded", "failed"):
                break
            assert time.monotonic() < deadline + 300, body
            time.sleep(0.5)
        assert body["status"] == "succeeded", body
        assert {name: s["attempts"] for name, s in body["stages"].items()} == {
            "script": 1, "voice": 1, "captions": 1, "render": 1, "publish": 1}
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres") as db:
            row = db.execute("SELECT stage, percent FROM generation_progress WHERE id = %s",
                             (job_id,)).fetchone()
        assert row == ("publish", 100)
    finally:
        _stop(processes)
