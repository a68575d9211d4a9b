"""`videofactory status` against real workers, Postgres and Redis."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bench.fleet import (
    VIDEOFACTORY,
    fleet_env,
    fresh_database,
    private_redis_db,
    start,
    stop,
    wait_for_workers,
)
from store import jobs
from store.accounts import create_account
from store.db import make_engine, make_session_factory, session_scope
from store.migrate import upgrade
from store.models import JobStage, utcnow
from store.settings import Settings
from tests.conftest import POSTGRES_ADMIN_URL, REDIS_SERVER_URL
from videofactory.status import gather_status
from worker.celery_app import create_celery, task_name
from worker.routing import STAGE_QUEUES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def status_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A fresh database and Redis DB, consumed by one cpu and one gpu worker."""
    root = tmp_path_factory.mktemp("status")
    name = f"vf_status_{secrets.token_hex(4)}"
    with fresh_database(POSTGRES_ADMIN_URL, name) as database_url:
        upgrade(database_url)
        # Not the session's Redis DB: the `fleet` fixture's workers consume those queues.
        with private_redis_db(REDIS_SERVER_URL) as redis_url:
            env = fleet_env(database_url, redis_url, root)
            workers = [start(["worker", "--pool", pool, "--name", f"{pool}-st", "--no-reconcile"],
                             env, root / f"worker-{pool}.log") for pool in ("cpu", "gpu")]
            try:
                wait_for_workers(env, ["cpu-st", "gpu-st"])
                yield env
            finally:
                stop(workers)


def _make_jobs(database_url: str) -> tuple[str, str]:
    """A job whose render lost its worker ten minutes ago, and a job just queued."""
    engine = make_engine(database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            account = create_account(session, "status-shop")
            made = []
            for title in ("stalled", "queued"):
                project = jobs.create_project(session, account.profile_id, title)
                made.append(jobs.create_job(
                    session, account_id=account.account_id, profile_id=account.profile_id,
                    project_id=project.id, source={"type": "idea", "idea": title},
                    preset="tiktok", queues=STAGE_QUEUES).id)
            stalled = made[0]
            for stage in ("script", "voice", "captions"):
                jobs.mark_stage_running(session, stalled, stage, "gone@host")
                jobs.mark_stage_succeeded(session, stalled, stage, {})
            jobs.mark_stage_running(session, stalled, "render", "cpu-gone@host")
            render = session.get(JobStage, (stalled, "render"))
            assert render is not None
            render.started_at = render.heartbeat_at = utcnow() - timedelta(minutes=10)
    finally:
        engine.dispose()
    return made[0], made[1]


def test_status_json_shows_pools_and_stalled_job(status_env: dict[str, str]) -> None:
    """`status --json` counts one worker per pool, lists the stalled render and the queues."""
    stalled, queued = _make_jobs(status_env["DATABASE_URL"])
    done = subprocess.run([VIDEOFACTORY, "status", "--json"], env=status_env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)

    assert {pool: len(nodes) for pool, nodes in report["workers"].items()} == {"cpu": 1, "gpu": 1}
    assert report["workers"]["cpu"][0].startswith("cpu-st@")
    assert report["workers"]["gpu"][0].startswith("gpu-st@")
    assert set(report["queues"]) == {"cpu", "gpu"}
    assert all(isinstance(depth, int) and depth >= 0 for depth in report["queues"].values())
    assert isinstance(report["unacked"], int)
    assert report["jobs"] == {"queued": 1, "running": 1, "awaiting_review": 0,
                              "succeeded_24h": 0, "failed_24h": 0, "canceled_24h": 0}

    assert [(s["job_id"], s["stage"], s["worker"], s["code"], s["next_step"])
            for s in report["stalled"]] == [
        (stalled, "render", "cpu-gone@host", "worker_lost", "redispatch")]
    assert "no heartbeat for 6" in report["stalled"][0]["reason"]  # about 600 s
    [running] = report["running"]
    assert (running["job_id"], running["stage"], running["worker"]) == (
        stalled, "render", "cpu-gone@host")
    assert running["stage_seconds"] >= 600
    assert queued not in {s["job_id"] for s in report["stalled"]}  # sent a moment ago

    text = subprocess.run([VIDEOFACTORY, "status"], env=status_env, capture_output=True,
                          text=True, timeout=60)
    assert text.returncode == 0, text.stderr
    assert f"{stalled}  render" in text.stdout and "worker_lost" in text.stdout


def test_queue_depths_count_every_priority_list(status_env: dict[str, str], tmp_path: Path
                                                ) -> None:
    """Messages waiting in a queue are counted whatever their priority (kombu's lists)."""
    with private_redis_db(REDIS_SERVER_URL) as idle_redis:  # no worker consumes this one
        settings = Settings.from_env(fleet_env(status_env["DATABASE_URL"], idle_redis, tmp_path))
        app = create_celery(settings)
        try:
            for priority in (0, 5, 9):
                app.send_task(task_name("render"), args=[{"job_id": "job_x"}], queue="cpu",
                              priority=priority)
            app.send_task(task_name("voice"), args=[{"job_id": "job_x"}], queue="gpu")
        finally:
            app.close()
        report = gather_status(settings, ping_timeout=0.5)
    assert report.queues == {"cpu": 3, "gpu": 1}
    assert report.unacked == 0
    assert report.workers == {"cpu": [], "gpu": []}
    assert report.problems == []
