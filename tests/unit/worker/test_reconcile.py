"""Stage leases with fencing tokens, and the reconciler that re-sends lost stages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from store import jobs as job_store
from store.accounts import create_account
from store.batches import create_batch
from store.db import session_scope
from store.models import Job, JobStage, utcnow
from store.services import Services
from store.settings import Settings
from tests.support.jobs import migrated_services, queued_idea_job
from worker.reconcile import plan_actions, reconcile_once


class RecordingDispatcher:
    """Remembers what the reconciler sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None]] = []
        self.ingests: list[str] = []

    def dispatch(self, job_id: str, from_stage: str | None = None) -> None:
        self.sent.append((job_id, from_stage))

    def ingest(self, batch_id: str) -> None:
        self.ingests.append(batch_id)


@pytest.fixture
def services(embedded_settings: Settings) -> Iterator[Services]:
    """Services on a migrated SQLite database with a 30 s stage lease."""
    settings = replace(embedded_settings, stage_lease_seconds=30.0, max_stage_attempts=3)
    with migrated_services(settings) as svc:
        yield svc


def _age(services: Services, job_id: str, stage: str, **seconds_ago: float) -> None:
    with session_scope(services.sessions) as session:
        row = session.get(JobStage, (job_id, stage))
        for column, ago in seconds_ago.items():
            setattr(row, column, utcnow() - timedelta(seconds=ago))


def _plan(services: Services):
    with session_scope(services.sessions) as session:
        return plan_actions(session, services, utcnow())


def test_a_live_lease_is_never_taken_twice(services: Services) -> None:
    """A second acquire during a live run is refused; once the heartbeat is stale it wins."""
    job_id = queued_idea_job(services, "x")
    with session_scope(services.sessions) as session:
        _, first = job_store.acquire_stage(session, job_id, "script", "w1", 30)
    with session_scope(services.sessions) as session:
        assert job_store.acquire_stage(session, job_id, "script", "w2", 30) is None
    _age(services, job_id, "script", heartbeat_at=31)
    with session_scope(services.sessions) as session:
        _, second = job_store.acquire_stage(session, job_id, "script", "w2", 30)
    assert second == first + 1


def test_a_superseded_run_cannot_record_its_result(services: Services) -> None:
    """The fencing token: the old run's success or failure is ignored, the new run's counts."""
    job_id = queued_idea_job(services, "x")
    with session_scope(services.sessions) as session:
        _, old = job_store.acquire_stage(session, job_id, "script", "w1", 30)
        _, new = job_store.acquire_stage(session, job_id, "script", "w2", 0)
    with session_scope(services.sessions) as session:
        assert job_store.mark_stage_succeeded(session, job_id, "script", {"a": "old"}, old) is None
        assert job_store.mark_stage_failed(session, job_id, "script", "x", "late", old) is None
        assert not job_store.heartbeat(session, job_id, "script", old)
        assert job_store.heartbeat(session, job_id, "script", new)
    with session_scope(services.sessions) as session:
        job = job_store.mark_stage_succeeded(session, job_id, "script", {"a": "new"}, new)
        assert job is not None and job.artifacts == {"a": "new"}
        assert job.status == "running"


def test_a_silent_running_stage_is_sent_again(services: Services) -> None:
    """No heartbeat for longer than the lease: the stage is re-dispatched, unless already sent."""
    job_id = queued_idea_job(services, "x")
    with session_scope(services.sessions) as session:
        job_store.acquire_stage(session, job_id, "script", "w1", 30)
    assert _plan(services) == []
    _age(services, job_id, "script", heartbeat_at=40, started_at=40)
    [action] = _plan(services)
    assert (action.kind, action.stage, action.code) == ("redispatch", "script", "worker_lost")
    services.marks.mark(job_id, "script")
    assert _plan(services) == []


def test_a_lost_message_is_sent_again(services: Services) -> None:
    """A pending stage sent long ago whose dispatch mark is gone is re-dispatched once."""
    job_id = queued_idea_job(services, "x")
    assert _plan(services) == []  # just created: give the queue time
    _age(services, job_id, "script", dispatched_at=60)
    dispatcher = RecordingDispatcher()
    [action] = reconcile_once(services, dispatcher)
    assert (action.code, dispatcher.sent) == ("message_lost", [(job_id, "script")])
    assert _plan(services) == []  # dispatched_at was refreshed


@pytest.mark.parametrize(("started_ago", "attempts", "code"),
                         [(200, 1, "timeout"), (40, 3, "stuck")])
def test_hopeless_stages_fail_their_job_with_the_reason(services: Services, started_ago: float,
                                                        attempts: int, code: str) -> None:
    """Past the hard time limit, or dead too often, the job fails instead of looping."""
    job_id = queued_idea_job(services, "x")
    with session_scope(services.sessions) as session:
        job_store.acquire_stage(session, job_id, "script", "w1", 30)
        session.get(JobStage, (job_id, "script")).attempts = attempts
        project_id = session.get(Job, job_id).project_id
    assert services.locks.acquire(project_id, job_id, 60)
    _age(services, job_id, "script", heartbeat_at=40, started_at=started_ago)
    dispatcher = RecordingDispatcher()
    [action] = reconcile_once(services, dispatcher)
    assert (action.kind, action.code) == ("fail", code)
    assert dispatcher.sent == []
    with session_scope(services.sessions) as session:
        job = session.get(Job, job_id)
        assert (job.status, job.error_stage, job.error_code) == ("failed", "script", code)
    assert services.locks.holder(project_id) is None


def _batch(services: Services, status: str, created_ago: float) -> str:
    with session_scope(services.sessions) as session:
        account = create_account(session, "batches")
        batch = create_batch(session, account_id=account.account_id,
                             profile_id=account.profile_id, preset="tiktok",
                             source={"type": "feed", "url": "https://shop.example/f.xml"},
                             options={})
        batch.status = status
        batch.created_at = utcnow() - timedelta(seconds=created_ago)
        return batch.id


def test_an_unread_batch_is_sent_to_its_ingest_again(services: Services) -> None:
    """A batch queued or half-read for longer than the lease, with no ingest message on its
    way and no live reader, gets its ingest sent again; any other batch is left alone."""
    lost = _batch(services, "queued", 60)
    dead_reader = _batch(services, "parsing", 60)
    fresh = _batch(services, "queued", 5)
    on_its_way = _batch(services, "queued", 60)
    services.marks.mark(on_its_way, "ingest")
    being_read = _batch(services, "parsing", 60)
    assert services.locks.acquire(f"ingest:{being_read}", "reader", 60)
    read = _batch(services, "running", 60)
    dispatcher = RecordingDispatcher()
    actions = reconcile_once(services, dispatcher)
    assert sorted(dispatcher.ingests) == sorted([lost, dead_reader])
    assert {(a.job_id, a.kind, a.code) for a in actions} == {
        (lost, "reingest", "message_lost"), (dead_reader, "reingest", "message_lost")}
    assert dispatcher.sent == []
    assert {fresh, on_its_way, being_read, read}.isdisjoint(dispatcher.ingests)


class _RivalTakesOverAfterGet:
    """A Redis client on which the leader key expires, and a rival takes it, right after any
    GET a Python caller makes: the window a check-then-extend leadership leaves open."""

    def __init__(self, client, key: str) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.key = key

    def get(self, key):  # type: ignore[no-untyped-def]
        value = self.client.get(key)
        if key == self.key:
            self.client.set(key, "rival", px=60_000)
        return value

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self.client, name)


def test_leadership_check_and_extension_are_one_step(redis_url: str) -> None:
    """A reconciler that is told it leads really holds the key: no rival slips in between."""
    import redis

    from worker.reconcile import Leadership

    client = redis.Redis.from_url(redis_url)
    prefix = f"vftest-lead-{utcnow().timestamp()}"
    try:
        racing = _RivalTakesOverAfterGet(client, f"{prefix}:reconciler")
        leader = Leadership(racing, prefix, ttl=5)
        assert leader.hold()  # free: taken
        for _ in range(3):
            held = leader.hold()  # already ours: extended
            assert held and client.get(f"{prefix}:reconciler") == leader.token.encode()
        client.set(f"{prefix}:reconciler", "rival", px=60_000)
        assert not leader.hold()
        assert client.get(f"{prefix}:reconciler") == b"rival"
    finally:
        client.delete(f"{prefix}:reconciler")
        client.close()


def test_a_pass_reads_all_active_jobs_in_a_fixed_number_of_queries(services: Services) -> None:
    """A batch leaves thousands of jobs queued: a pass must not query once per job."""
    from sqlalchemy import event

    for i in range(40):
        queued_idea_job(services, f"idea {i}")
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        statements.append(statement)

    event.listen(services.engine, "before_cursor_execute", count)
    try:
        _plan(services)
    finally:
        event.remove(services.engine, "before_cursor_execute", count)
    assert len(statements) <= 3, statements
