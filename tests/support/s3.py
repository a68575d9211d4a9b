"""moto's standalone S3 server as its own process, and throwaway buckets on it."""

from __future__ import annotations

import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.fleet import free_port

# moto accepts any credentials; these only keep boto3 from looking for real ones.
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """A running moto server, where it answers, and a client for set-up and inspection."""

    endpoint_url: str
    process: subprocess.Popen[bytes]
    log: Path
    client: Any


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False


def start_s3_server(log: Path, host: str = "127.0.0.1", timeout: float = 30) -> S3Server:
    """Start `python -m moto.server` on a free port; return once it answers HTTP."""
    for _ in range(3):  # the free port can be taken before moto binds it
        port = free_port()
        with log.open("wb") as handle:
            process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", host,
                                        "-p", str(port)], stdout=handle,
                                       stderr=subprocess.STDOUT)
        url = f"http://{host}:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if _answers(url + "/moto-api/"):
                return S3Server(url, process, log, s3_client(url))
            time.sleep(0.1)
        _stop(process)
    raise RuntimeError(f"moto server did not start:\n{log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stop_s3_server(server: S3Server) -> None:
    """Close the client and terminate the server process (SIGKILL if it lingers)."""
    server.client.close()
    _stop(server.process)


@contextmanager
def s3_server_running() -> Iterator[S3Server]:
    """A moto server for the duration of the block, its log in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="vf-moto-") as folder:
        server = start_s3_server(Path(folder) / "moto.log")
        try:
            yield server
        finally:
            stop_s3_server(server)


def s3_client(endpoint_url: str) -> Any:
    """A plain boto3 client on the server, for test set-up and inspection."""
    import boto3

    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url, region_name=REGION, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY)


def create_bucket(client: Any) -> str:
    """A new bucket with a unique, valid name (3 to 63 characters); its name."""
    name = f"vf-test-{secrets.token_hex(6)}"
    client.create_bucket(Bucket=name)
    return name


def delete_bucket(client: Any, name: str) -> None:
    """Abort unfinished uploads, delete every object, then the bucket itself."""
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=name):
        for upload in page.get("Uploads", ()):
            client.abort_multipart_upload(Bucket=name, Key=upload["Key"],
                                          UploadId=upload["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", ()):
            client.delete_object(Bucket=name, Key=item["Key"])
    client.delete_bucket(Bucket=name)
