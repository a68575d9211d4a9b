"""Flower, started with docker-compose.yml's command line, watches both pools and a job."""

from __future__ import annotations

import ast
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import free_port
from tests.e2e.fleet_support import LocalFleet, local_fleet, replace_option
from worker.routing import ROUTES

pytestmark = pytest.mark.slow


def _poll(what: str, fetch: Callable[[], Any], done: Callable[[Any], bool], fleet: LocalFleet,
          timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        fleet.assert_running("flower")
        value = fetch()
        if done(value):
            return value
        time.sleep(0.5)
    raise AssertionError(f"Flower never showed {what}: {value}\n{fleet.tail_logs()}")


def _job_tasks(tasks: dict[str, dict], job_id: str) -> dict[str, set[str]]:
    """{task name: states} of the tasks whose argument names the job."""
    states: dict[str, set[str]] = {}
    for task in tasks.values():
        args = task.get("args") or ""
        try:
            first = ast.literal_eval(args)[0] if args else {}
        except (ValueError, SyntaxError, IndexError):
            first = {}
        if isinstance(first, dict) and first.get("job_id") == job_id:
            states.setdefault(task["name"], set()).add(task["state"])
    return states


def test_flower_shows_both_pools_and_a_finished_job(tmp_path: Path) -> None:
    """Flower's HTTP API lists a cpu and a gpu worker and the five stage tasks of a job that
    went through them, each SUCCESS (the workers send task events)."""
    with local_fleet(tmp_path, ("api", "worker-cpu", "worker-gpu")) as fleet:
        port = free_port()
        argv = replace_option(fleet.compose.command("flower"), "--port", str(port))
        fleet.start("flower", [*argv, "--address=127.0.0.1"])
        base = f"http://127.0.0.1:{port}"
        user, _, password = fleet.env_for("flower")["FLOWER_BASIC_AUTH"].partition(":")

        def get(path: str, auth: tuple[str, str] | None = (user, password)) -> Any:
            try:
                return requests.get(f"{base}{path}", auth=auth, timeout=10)
            except requests.ConnectionError:
                return None

        _poll("its health check", lambda: get("/healthcheck", auth=None),
              lambda r: r is not None and r.status_code == 200, fleet)
        assert get("/api/workers", auth=None).status_code == 401  # the API needs the password
        hostname = fleet.env_for("worker-cpu")["HOSTNAME"]
        nodes = {f"cpu@{hostname}", f"gpu@{hostname}"}
        workers = _poll("both workers", lambda: get("/api/workers?refresh=1").json(),
                        lambda body: nodes <= set(body), fleet)
        for node in nodes:
            queues = [queue["name"] for queue in workers[node]["active_queues"]]
            assert queues == [node.split("@")[0]], (node, queues)

        # Flower knows only what happens while it listens: the job comes after it started.
        fleet.create_account()
        job_id = fleet.submit_draft("Three reasons to stretch before a run")
        done = fleet.wait_for_job(job_id)
        assert done["status"] == "succeeded", f"{done}\n{fleet.tail_logs()}"

        expected = {f"videofactory.{route.stage}" for route in ROUTES}
        states = _poll("the job's five tasks as SUCCESS",
                       lambda: _job_tasks(get("/api/tasks").json(), job_id),
                       lambda found: set(found) == expected
                       and all("SUCCESS" in s for s in found.values()), fleet)
        assert set(states) == expected
        tasks = get("/api/tasks").json()
        for task in tasks.values():
            if task["name"] in expected and job_id in (task.get("args") or ""):
                queue = next(r.queue for r in ROUTES if f"videofactory.{r.stage}" == task["name"])
                assert task["worker"] == f"{queue}@{hostname}", task

        # The compose health check of the flower service passes against it.
        result = fleet.run_healthcheck("flower", {":5555/": f":{port}/"})
        assert result.returncode == 0, result.stderr
