"""store.bulk.insert_rows (COPY on Postgres, INSERT on SQLite): what goes in comes back out,
with the characters COPY's text format has to escape, JSON columns, nulls and times."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete, event, select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.sequence import STAGE_NAMES
from store.accounts import create_account
from store.batches import PlannedItem, create_batch, write_items
from store.bulk import insert_rows
from store.jobs import aware
from store.models import Account, BatchItem, Job, JobStage, Project
from worker.routing import STAGE_QUEUES

AWKWARD = "tab\there, line\nbreak, back\\slash, \\N, quote\" ' , Grüße 東京 🎬, NUL-free"


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory; the accounts it made (and with them every row here) are deleted
    afterwards."""
    factory = sessionmaker(engine, expire_on_commit=False)
    made: list[str] = []

    def remember(_session: Session, obj: object) -> None:
        if isinstance(obj, Account):
            made.append(obj.id)

    event.listen(factory, "after_attach", remember)
    yield factory
    with Session(engine) as cleanup:
        cleanup.execute(delete(Account).where(Account.id.in_(made)))
        cleanup.commit()


def test_rows_come_back_as_they_went_in(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        account = create_account(session, "bulk")
        session.commit()
        when = datetime(2026, 12, 1, 15, 30, 5, 123456, tzinfo=UTC)
        rows = [{"id": f"proj_bulk{n}_{account.account_id[-6:]}",
                 "profile_id": account.profile_id, "name": f"{AWKWARD} {n}",
                 "created_at": when} for n in range(3)]
        insert_rows(session, Project, rows)
        insert_rows(session, Project, [])  # nothing to do is no error
        session.commit()
    with sessions() as session:
        back = session.scalars(select(Project).where(Project.id.in_([r["id"] for r in rows]))
                               .order_by(Project.id)).all()
        assert [(p.name, aware(p.created_at)) for p in back] == [
            (r["name"], when) for r in rows]


def test_a_batch_chunk_writes_jobs_stages_and_items(sessions: sessionmaker[Session]) -> None:
    """JSON columns keep nested values and non-ASCII text; null columns stay null."""
    source = {"type": "product", "title": AWKWARD, "images": ["https://cdn.example/a b.png"],
              "nested": {"list": [1, 2.5, None, True], "empty": {}}}
    with sessions() as session:
        account = create_account(session, "bulk")
        batch = create_batch(session, account_id=account.account_id,
                             profile_id=account.profile_id, preset="tiktok",
                             source={"type": "feed", "url": "https://shop.example/f.xml"},
                             options={})
        items = [PlannedItem(0, "SKU-1", AWKWARD, "job", fingerprint="f" * 64,
                             job_source=source, job_options={"language": "de"}),
                 PlannedItem(1, "SKU-2", "Gone", "skipped", reason="out of stock"),
                 PlannedItem(2, "item 3", "", "failed", reason=AWKWARD)]
        [job_id] = write_items(session, batch, items, STAGE_QUEUES)
        session.commit()
        batch_id = batch.id
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert (job.source, job.options, job.artifacts, job.status) == (
            source, {"language": "de"}, {}, "queued")
        assert job.error_stage is None and job.started_at is None
        stages = session.scalars(select(JobStage).where(JobStage.job_id == job_id)
                                 .order_by(JobStage.position)).all()
        assert [(s.name, s.status, s.queue) for s in stages] == [
            (name, "pending", STAGE_QUEUES[name]) for name in STAGE_NAMES]
        assert stages[0].dispatched_at is not None and stages[1].dispatched_at is None
        got = session.scalars(select(BatchItem).where(BatchItem.batch_id == batch_id)
                              .order_by(BatchItem.position)).all()
        assert [(i.key, i.title, i.status, i.job_id, i.fingerprint, i.reason) for i in got] == [
            ("SKU-1", AWKWARD, "job", job_id, "f" * 64, None),
            ("SKU-2", "Gone", "skipped", None, None, "out of stock"),
            ("item 3", "", "failed", None, None, AWKWARD)]
