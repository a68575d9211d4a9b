"""The real fleet: the API and two Celery workers as processes, on real Postgres and Redis."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from bench.fleet import VIDEOFACTORY, free_port
from bench.fleet import start as _start
from bench.fleet import stop as _stop
from bench.fleet import wait_for_workers as _wait_for_workers


@dataclass
class Fleet:
    """Handles on the running processes and what the tests need to talk to them."""

    base_url: str
    api_key: str
    env: dict[str, str]
    media_root: Path
    export_dir: Path
    database_url: str
    logs: Path

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def wait_for(self, job_id: str, statuses: set[str], timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            body = requests.get(f"{self.base_url}/v1/jobs/{job_id}", headers=self.headers(),
                                timeout=10).json()
            if body.get("status") in statuses:
                return body
            time.sleep(0.5)
        raise AssertionError(f"job {job_id} not {statuses} after {timeout}s: {body}\n"
                             + self.tail_logs())

    def tail_logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.logs.glob("*.log")))


@pytest.fixture(scope="session")
def fleet(postgres_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Fleet]:
    """`videofactory serve`, `worker --pool cpu` and `worker --pool gpu`, all running."""
    root = tmp_path_factory.mktemp("fleet")
    logs = root / "logs"
    logs.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "MEDIA_ROOT", "EXPORT_DIR"}}
    env.update({
        "DATABASE_URL": postgres_url, "REDIS_URL": redis_url, "DATA_DIR": str(root / "data"),
        "MEDIA_ROOT": str(root / "media"), "EXPORT_DIR": str(root / "exports"),
        "REDIS_KEY_PREFIX": "vf-e2e", "API_PORT": str(port), "LOG_LEVEL": "INFO",
        # The feed tests serve their feeds and pictures from this machine.
        "FETCH_ALLOW_HOSTS": "127.0.0.1",
    })
    created = subprocess.run([VIDEOFACTORY, "accounts", "create", "e2e-shop"], env=env,
                             capture_output=True, text=True, timeout=60, check=True)
    api_key = created.stdout.strip().splitlines()[-1]
    # No reconcilers: this fleet shares the session database with other tests' job rows,
    # which are not its to re-send.
    processes = [
        _start(["serve"], env, logs / "api.log"),
        _start(["worker", "--pool", "cpu", "--name", "cpu-e2e", "--no-reconcile"], env,
               logs / "worker-cpu.log"),
        _start(["worker", "--pool", "gpu", "--name", "gpu-e2e", "--no-reconcile"], env,
               logs / "worker-gpu.log"),
    ]
    fleet = Fleet(f"http://127.0.0.1:{port}", api_key, env, root / "media", root / "exports",
                  postgres_url, logs)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{fleet.base_url}/v1/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("API did not become healthy\n" + fleet.tail_logs())
            time.sleep(0.3)
        _wait_for_workers(env, ["cpu-e2e", "gpu-e2e"])
        yield fleet
    finally:
        _stop(processes)
