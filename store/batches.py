"""Batches and their items. An item backed by a job shows its job's status, read at the time
it is asked for, so nothing has to update items when jobs finish."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.bulk import insert_rows
from store.jobs import JobRows, insert_jobs, job_rows
from store.models import Batch, BatchItem, Job, Project, new_id, utcnow

COUNT_KEYS = ("total", "queued", "running", "succeeded", "failed", "unchanged", "skipped",
              "planned")
_JOB_TO_ITEM = {"queued": "queued", "running": "running", "succeeded": "succeeded",
                "failed": "failed", "canceled": "failed"}
# An earlier item's job with one of these statuses makes an equal fingerprint "unchanged".
REUSABLE_JOB_STATUSES = ("queued", "running", "succeeded")


def create_batch(session: Session, *, account_id: str, profile_id: str, preset: str,
                 source: dict[str, Any], options: dict[str, Any]) -> Batch:
    """A queued batch; the ingest task reads its source."""
    batch = Batch(id=new_id("bat"), account_id=account_id, profile_id=profile_id,
                  status="queued", preset=preset, source=source, options=options, parsed=0)
    session.add(batch)
    session.flush()
    return batch


@dataclass(frozen=True)
class PlannedItem:
    """An item as the ingest decided it: a job to make (`job_source` set), or a status."""

    position: int
    key: str
    title: str
    status: str  # "job", "unchanged", "skipped", "failed" or "planned"
    fingerprint: str | None = None
    reason: str | None = None
    job_id: str | None = None  # an earlier job, for "unchanged"
    job_source: dict[str, Any] | None = None
    job_options: dict[str, Any] | None = None


@dataclass(frozen=True)
class EarlierJob:
    """An earlier item's job that an equal fingerprint may reuse."""

    job_id: str
    # Its visuals.json: the pictures it was made from, once its script stage has run.
    visuals_key: str | None


def reusable_jobs(session: Session, account_id: str,
                  fingerprints: Iterable[str]) -> dict[str, EarlierJob]:
    """For each fingerprint an earlier item of the account made a live or finished video
    for, that job (the newest)."""
    wanted = list(set(fingerprints))
    found: dict[str, EarlierJob] = {}
    for start in range(0, len(wanted), 500):  # bound the IN list
        rows = session.execute(
            select(BatchItem.fingerprint, Job.id, Job.artifacts)
            .join(Job, Job.id == BatchItem.job_id)
            .where(BatchItem.fingerprint.in_(wanted[start:start + 500]),
                   Job.account_id == account_id, Job.status.in_(REUSABLE_JOB_STATUSES))
            .order_by(Job.created_at)
        )
        for fingerprint, job_id, artifacts in rows:
            # Later rows are newer.
            found[fingerprint] = EarlierJob(job_id, (artifacts or {}).get("visuals"))
    return found


def write_items(session: Session, batch: Batch, items: list[PlannedItem],
                queues: Mapping[str, str]) -> list[str]:
    """Store the items, with a project and a queued job for each one to make; return the new
    jobs' ids (the caller commits, then dispatches them). A few bulk inserts per chunk: the
    ORM's unit of work costs a millisecond per job, which a 10,000-item feed feels."""
    now = utcnow()
    projects: list[dict[str, Any]] = []
    jobs: list[JobRows] = []
    rows: list[dict[str, Any]] = []
    for item in items:
        job_id = item.job_id
        if item.status == "job":
            assert item.job_source is not None
            project_id = new_id("proj")
            projects.append({"id": project_id, "profile_id": batch.profile_id,
                             "name": (item.title or item.key)[:200] or "Untitled",
                             "created_at": now})
            made = job_rows(account_id=batch.account_id, profile_id=batch.profile_id or "",
                            project_id=project_id, source=item.job_source,
                            preset=batch.preset, queues=queues, options=item.job_options)
            jobs.append(made)
            job_id = made.job_id
        rows.append({"id": new_id("bit"), "batch_id": batch.id, "position": item.position,
                     "key": item.key[:2000], "title": item.title[:500], "status": item.status,
                     "job_id": job_id, "fingerprint": item.fingerprint, "reason": item.reason})
    # Projects, then jobs, then items: each points at the one before.
    insert_rows(session, Project, projects)
    insert_jobs(session, jobs)
    insert_rows(session, BatchItem, rows)
    return [made.job_id for made in jobs]


def written_so_far(session: Session, batch_id: str) -> int:
    """How many items of a batch whose ingest was cut off are written already."""
    return int(session.scalar(select(func.count()).where(BatchItem.batch_id == batch_id)) or 0)


def _item_status(own: str, job_status: str | None) -> str:
    if own == "unchanged" and job_status != "succeeded":
        # The earlier job it reuses is still on its way (or failed since): the item is not
        # done until that job is, whatever the fingerprint said.
        return _JOB_TO_ITEM.get(job_status or "", "failed")
    if own != "job":
        return own
    return _JOB_TO_ITEM.get(job_status or "", "failed")


def batch_counts(session: Session, batch_id: str) -> dict[str, int]:
    """How many items are in each status (a dry run's items count as "planned"; an unchanged
    item whose earlier job has not succeeded counts as that job's status)."""
    counts = dict.fromkeys(COUNT_KEYS, 0)
    rows = session.execute(
        select(BatchItem.status, Job.status, func.count())
        .outerjoin(Job, Job.id == BatchItem.job_id)
        .where(BatchItem.batch_id == batch_id)
        .group_by(BatchItem.status, Job.status)
    )
    for own, job_status, count in rows:
        status = _item_status(own, job_status)
        counts[status] = counts.get(status, 0) + count
        counts["total"] += count
    return counts


def batch_status(batch: Batch, counts: Mapping[str, int]) -> str:
    """parsing | running | succeeded | partial | failed, as the user sees it."""
    if batch.status in ("queued", "parsing", "failed"):
        return batch.status
    if counts["queued"] or counts["running"]:
        return "running"
    if not counts["failed"]:
        return "succeeded"
    made = counts["succeeded"] + counts["unchanged"] + counts["skipped"] + counts["planned"]
    return "partial" if made else "failed"


def batch_items(session: Session, batch_id: str, *, after: int = -1,
                limit: int = 100) -> tuple[list[tuple[BatchItem, str, Job | None]], bool]:
    """A page of items in feed order after position `after`, with their statuses and jobs;
    and whether more follow."""
    rows = session.execute(
        select(BatchItem, Job)
        .outerjoin(Job, Job.id == BatchItem.job_id)
        .where(BatchItem.batch_id == batch_id, BatchItem.position > after)
        .order_by(BatchItem.position)
        .limit(limit + 1)
    ).all()
    page = [(item, _item_status(item.status, job.status if job else None), job)
            for item, job in rows[:limit]]
    return page, len(rows) > limit


def list_batches(session: Session, account_id: str, *, limit: int,
                 before: Batch | None = None) -> tuple[list[Batch], bool]:
    """The account's batches, newest first, a page at a time."""
    query = select(Batch).where(Batch.account_id == account_id)
    if before is not None:
        query = query.where((Batch.created_at < before.created_at) |
                            ((Batch.created_at == before.created_at) & (Batch.id < before.id)))
    rows = list(session.scalars(query.order_by(Batch.created_at.desc(), Batch.id.desc())
                                .limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def set_batch_state(session: Session, batch_id: str, status: str, *,
                    parsed: int | None = None, format: str | None = None,  # noqa: A002
                    error: tuple[str, str] | None = None) -> None:
    """Record how far the ingest is; `running` marks the end of parsing."""
    batch = session.get(Batch, batch_id, populate_existing=True)
    if batch is None:
        raise LookupError(f"batch {batch_id} not found")
    batch.status = status
    if parsed is not None:
        batch.parsed = parsed
    if format is not None:
        batch.format = format
    if error is not None:
        batch.error_code, batch.error_message = error
    if status in ("running", "failed"):
        batch.parsed_at = utcnow()
