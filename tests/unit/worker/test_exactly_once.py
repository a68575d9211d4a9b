"""Each stage runs exactly once: racing deliveries, superseded and canceled runs, Redis blips."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import update

from pipeline.tools import run
from store import jobs as job_store
from store.db import session_scope
from store.models import Job, JobStage
from store.services import Services
from store.settings import Settings
from tests.support.jobs import migrated_services, queued_idea_job
from worker import execution, stages
from worker.execution import StageBusy, StageSuperseded, execute_stage

RACE_ROUNDS = 25
LONG_FFMPEG = ["ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i",
               "anullsrc=r=8000:cl=mono", "-t", "600", "-f", "null", "-"]


@pytest.fixture
def pg_services(distributed_settings: Settings) -> Iterator[Services]:
    """Services on Postgres and Redis, with a short lease so heartbeats come every 0.5 s."""
    with migrated_services(replace(distributed_settings, stage_lease_seconds=3)) as services:
        yield services


@pytest.fixture
def local_services(embedded_settings: Settings) -> Iterator[Services]:
    """Embedded services with a short lease."""
    with migrated_services(replace(embedded_settings, stage_lease_seconds=3)) as services:
        yield services


def _stage_row(services: Services, job_id: str, stage: str) -> JobStage:
    with session_scope(services.sessions) as session:
        row = session.get(JobStage, (job_id, stage))
        assert row is not None
        session.expunge(row)
        return row


def test_racing_deliveries_run_the_stage_once(pg_services: Services,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Four deliveries that have all loaded the job before asking: one run, three skips."""
    runs: list[str] = []
    real_adapter = stages.STAGE_ADAPTERS["script"]
    real_acquire = job_store.acquire_stage
    barrier: list[threading.Barrier] = []

    def counting_adapter(ctx, job):  # type: ignore[no-untyped-def]
        runs.append(job.job_id)
        time.sleep(0.2)  # the others arrive while this run is under way
        return real_adapter(ctx, job)

    def acquire_after_all_loaded(session, *args, **kwargs):  # type: ignore[no-untyped-def]
        barrier[0].wait(timeout=30)
        return real_acquire(session, *args, **kwargs)

    monkeypatch.setitem(stages.STAGE_ADAPTERS, "script", counting_adapter)
    monkeypatch.setattr(execution.jobs, "acquire_stage", acquire_after_all_loaded)
    for round_number in range(RACE_ROUNDS):
        job_id = queued_idea_job(pg_services)
        barrier[:] = [threading.Barrier(4)]
        outcomes: list[str] = []

        def deliver(n: int, job_id: str = job_id, outcomes: list[str] = outcomes) -> None:
            try:
                execute_stage(pg_services, "script", job_id, worker=f"w{n}")
                outcomes.append("ran")
            except StageBusy:
                outcomes.append("busy")

        threads = [threading.Thread(target=deliver, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes) == ["busy", "busy", "busy", "ran"], f"round {round_number}"
        assert runs.count(job_id) == 1
        row = _stage_row(pg_services, job_id, "script")
        assert (row.status, row.lease_token, row.attempts) == ("succeeded", 1, 1)


class _LongStage:
    """A stage adapter that writes its output, then runs a ten-minute ffmpeg."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.started = threading.Event()

    def __call__(self, ctx, job):  # type: ignore[no-untyped-def]
        keys = stages.outputs_of("script", job.job_id)
        ctx.media.put_bytes(keys["script"], b'{"stale": true}')
        real_popen = run.__globals__["subprocess"].Popen

        def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
            proc = real_popen(*args, **kwargs)
            self.pid = proc.pid
            self.started.set()
            return proc

        run.__globals__["subprocess"].Popen = spy
        try:
            run(LONG_FFMPEG, timeout=600)
        finally:
            run.__globals__["subprocess"].Popen = real_popen
        return keys


def _run_in_thread(services: Services, job_id: str) -> tuple[threading.Thread, list]:
    outcome: list = []

    def target() -> None:
        try:
            execute_stage(services, "script", job_id, worker="stale")
            outcome.append("finished")
        except BaseException as exc:  # noqa: BLE001 - inspected by the test
            outcome.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" in status.read_text()


@pytest.mark.parametrize("how", ["superseded", "canceled"])
def test_a_run_that_lost_its_lease_stops_within_5_s_and_writes_nothing(
        local_services: Services, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """Superseded or canceled: its ffmpeg is gone within 5 s and no final key is written."""
    adapter = _LongStage()
    monkeypatch.setitem(stages.STAGE_ADAPTERS, "script", adapter)
    job_id = queued_idea_job(local_services)
    thread, outcome = _run_in_thread(local_services, job_id)
    assert adapter.started.wait(30)
    assert adapter.pid is not None and not _gone(adapter.pid)
    lost_at = time.monotonic()
    with session_scope(local_services.sessions) as session:
        if how == "superseded":  # another run took the stage over
            session.execute(update(JobStage).where(JobStage.job_id == job_id,
                                                   JobStage.name == "script")
                            .values(lease_token=JobStage.lease_token + 1))
        else:
            job_store.cancel_job(session, job_id)
    thread.join(timeout=10)
    stopped_after = time.monotonic() - lost_at
    assert not thread.is_alive()
    assert stopped_after < 5, f"the run took {stopped_after:.1f} s to stop"
    assert _gone(adapter.pid)
    assert isinstance(outcome[0], StageSuperseded)
    final = stages.outputs_of("script", job_id)["script"]
    assert not local_services.media.exists(final)
    assert local_services.media.list(f"{job_id}/.runs") == []
    row = _stage_row(local_services, job_id, "script")
    assert row.error_code is None  # the stale run recorded no failure either
    if how == "canceled":
        with session_scope(local_services.sessions) as session:
            assert session.get(Job, job_id).status == "canceled"
        assert row.status == "canceled"


class _FlakyLocks:
    """Project locks whose Redis is away: every refresh raises."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.refreshes = 0

    def refresh(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.refreshes += 1
        raise ConnectionError("Redis is away for a moment")

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


def test_a_failed_lock_refresh_does_not_kill_the_stage(local_services: Services) -> None:
    """With every project-lock refresh failing, the stage still runs and records success."""
    flaky = _FlakyLocks(local_services.locks)
    local_services.locks = flaky  # type: ignore[assignment]
    job_id = queued_idea_job(local_services)
    artifacts = execute_stage(local_services, "script", job_id, worker="w")
    assert flaky.refreshes >= 1
    assert "script" in artifacts
    assert _stage_row(local_services, job_id, "script").status == "succeeded"
