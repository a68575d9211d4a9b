"""Deliveries of one stage that arrive together on Postgres: exactly one takes the lease."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session, sessionmaker

from store import jobs
from store.accounts import create_account
from store.db import make_engine
from store.models import Account, GenerationProgress, Job
from worker.routing import STAGE_QUEUES

DELIVERIES = 4
ROUNDS = 200


@pytest.fixture
def pg_sessions(postgres_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on the session's Postgres, with room for every racing delivery."""
    engine: Engine = make_engine(postgres_url)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session:
        account = create_account(session, "lease-race")
        session.commit()
        account_id, profile_id = account.account_id, account.profile_id
    factory.kw["info"] = {"account": (account_id, profile_id)}
    yield factory
    with Session(engine) as cleanup:
        job_ids = cleanup.scalars(
            Job.__table__.select().with_only_columns(Job.id)
            .where(Job.account_id == account_id)).all()
        cleanup.execute(delete(GenerationProgress).where(GenerationProgress.id.in_(job_ids)))
        cleanup.execute(delete(Account).where(Account.id == account_id))
        cleanup.commit()
    engine.dispose()


def _new_job(factory: sessionmaker[Session]) -> str:
    account_id, profile_id = factory.kw["info"]["account"]
    with factory() as session:
        project = jobs.create_project(session, profile_id, "race")
        job = jobs.create_job(session, account_id=account_id, profile_id=profile_id,
                              project_id=project.id, source={"type": "idea", "idea": "x"},
                              preset="tiktok", queues=STAGE_QUEUES)
        session.commit()
        return job.id


def _race(factory: sessionmaker[Session], job_id: str, stage: str) -> list[int | None]:
    """Every delivery loads the job and its stages, waits for the others, then asks."""
    barrier = threading.Barrier(DELIVERIES)
    tokens: list[int | None] = []
    errors: list[BaseException] = []
    mutex = threading.Lock()

    def deliver(n: int) -> None:
        try:
            with factory() as session:
                job = session.get(Job, job_id)
                assert job is not None
                assert [row.name for row in job.stages if row.name == stage] == [stage]
                barrier.wait(timeout=30)
                got = jobs.acquire_stage(session, job_id, stage, f"worker-{n}", 30)
                session.commit()
            with mutex:
                tokens.append(None if got is None else got[1])
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(DELIVERIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return tokens


def test_simultaneous_deliveries_give_one_lease_every_time(
        pg_sessions: sessionmaker[Session], capsys: pytest.CaptureFixture[str]) -> None:
    """In every round exactly one of the racing deliveries gets a token, and it is token 1."""
    for round_number in range(ROUNDS):
        job_id = _new_job(pg_sessions)
        tokens = _race(pg_sessions, job_id, "script")
        granted = [t for t in tokens if t is not None]
        assert len(tokens) == DELIVERIES
        assert granted == [1], f"round {round_number}: tokens handed out {tokens}"
        with pg_sessions() as session:
            row = next(r for r in session.get(Job, job_id).stages if r.name == "script")
            assert (row.lease_token, row.attempts, row.status) == (1, 1, "running")
    with capsys.disabled():
        print(f"\nlease race: {ROUNDS} rounds of {DELIVERIES} simultaneous deliveries, "
              "no double lease")


def test_a_takeover_after_the_lease_expires_gets_the_next_token(
        pg_sessions: sessionmaker[Session]) -> None:
    """A stale lease is taken by exactly one of the racing deliveries, with token 2."""
    job_id = _new_job(pg_sessions)
    with pg_sessions() as session:
        assert jobs.acquire_stage(session, job_id, "script", "first", 30) is not None
        session.commit()
    with pg_sessions() as session:  # the first run's heartbeat is long gone
        row = next(r for r in session.get(Job, job_id).stages if r.name == "script")
        row.heartbeat_at = row.heartbeat_at.replace(year=2000)
        session.commit()
    tokens = _race(pg_sessions, job_id, "script")
    assert sorted(t for t in tokens if t is not None) == [2]
