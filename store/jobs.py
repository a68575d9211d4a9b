"""Job and stage state: every change is a short transaction; Postgres is the truth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, selectinload

from pipeline.sequence import STAGE_NAMES, overall_percent
from store.bulk import insert_rows
from store.models import GenerationProgress, Job, JobStage, Project, new_id, utcnow

ACTIVE_STATUSES = ("queued", "running")
# Stopped after its script until a person approves it: neither active (no worker, no lease,
# the reconciler leaves it alone, no project lock) nor finished (it can still go on).
AWAITING_REVIEW = "awaiting_review"
FINISHED_STATUSES = ("succeeded", "failed", "canceled")
JOB_STATUSES = (*ACTIVE_STATUSES, AWAITING_REVIEW, *FINISHED_STATUSES)


class JobFinished(ValueError):
    """The job already ended (succeeded, failed or canceled)."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"job {job.id} already {job.status}")
        self.status = job.status


def create_project(session: Session, profile_id: str, name: str) -> Project:
    """A new project under a profile."""
    project = Project(id=new_id("proj"), profile_id=profile_id, name=name[:200] or "Untitled")
    session.add(project)
    session.flush()
    return project


@dataclass(frozen=True)
class JobRows:
    """One queued job as the rows to insert: the job, a pending row per stage (each naming
    the queue it runs on) and its progress row."""

    job: dict[str, Any]
    stages: list[dict[str, Any]]
    progress: dict[str, Any]

    @property
    def job_id(self) -> str:
        """The new job's id."""
        return str(self.job["id"])


def job_rows(*, account_id: str, profile_id: str, project_id: str, source: dict[str, Any],
             preset: str, queues: Mapping[str, str],
             options: dict[str, Any] | None = None) -> JobRows:
    """The rows of a queued job, as plain values (inserted many at a time by a batch)."""
    now = utcnow()
    job_id = new_id("job")
    job = {"id": job_id, "account_id": account_id, "profile_id": profile_id,
           "project_id": project_id, "status": "queued", "current_stage": None,
           "preset": preset, "source": source, "options": options or {}, "artifacts": {},
           "error_stage": None, "error_code": None, "error_message": None,
           "created_at": now, "started_at": None, "finished_at": None}
    stages = [{"job_id": job_id, "name": stage, "position": i, "queue": queues[stage],
               "status": "pending", "worker": None, "attempts": 0, "started_at": None,
               "finished_at": None, "error_code": None, "error_message": None,
               "lease_token": 0, "heartbeat_at": None,
               "dispatched_at": now if i == 0 else None}
              for i, stage in enumerate(STAGE_NAMES)]
    progress = {"id": job_id, "stage": None, "percent": 0, "message": "queued",
                "updated_at": now}
    return JobRows(job, stages, progress)


def insert_jobs(session: Session, rows: Sequence[JobRows]) -> None:
    """Insert many jobs: their rows, stages and progress, a table at a time."""
    if not rows:
        return
    insert_rows(session, Job, [r.job for r in rows])
    insert_rows(session, JobStage, [stage for r in rows for stage in r.stages])
    insert_rows(session, GenerationProgress, [r.progress for r in rows])


def create_job(session: Session, *, account_id: str, profile_id: str, project_id: str,
               source: dict[str, Any], preset: str, queues: Mapping[str, str],
               options: dict[str, Any] | None = None) -> Job:
    """A queued job with one pending row per stage, written in the session."""
    session.flush()  # its project (and anything else pending) goes first
    rows = job_rows(account_id=account_id, profile_id=profile_id, project_id=project_id,
                    source=source, preset=preset, queues=queues, options=options)
    insert_jobs(session, [rows])
    job = session.get(Job, rows.job_id)
    assert job is not None
    return job


def stage_row(session: Session, job_id: str, stage: str) -> JobStage:
    """A job's stage row (raises LookupError when the job has no such stage)."""
    row = session.get(JobStage, (job_id, stage))
    if row is None:
        raise LookupError(f"job {job_id} has no stage {stage}")
    return row


def _locked_job(session: Session, job_id: str) -> Job | None:
    """The job's row, locked until the transaction ends, with its values read afresh.

    Without populate_existing a session that loaded the job before would keep the values it
    saw then, even after waiting for the lock: two racing runs would both see the stage free.
    """
    return session.get(Job, job_id, with_for_update=True, populate_existing=True)


def locked_job(session: Session, job_id: str) -> Job:
    """The job's row, locked until the transaction ends and read afresh; LookupError if none."""
    job = _locked_job(session, job_id)
    if job is None:
        raise LookupError(f"job {job_id} not found")
    return job


def _locked_stage(session: Session, job_id: str, stage: str) -> JobStage:
    row = session.get(JobStage, (job_id, stage), with_for_update=True, populate_existing=True)
    if row is None:
        raise LookupError(f"job {job_id} has no stage {stage}")
    return row


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time we store is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def acquire_stage(session: Session, job_id: str, stage: str, worker: str,
                  lease_seconds: float) -> tuple[Job, int] | None:
    """Start a run of the stage on `worker` and return its fencing token.

    None when another run holds a live lease (its heartbeat is younger than lease_seconds)
    or the job has ended: a stage never runs twice at the same time. The job's row lock makes
    racing workers take turns on Postgres (SQLite serialises writers anyway), and each reads
    the rows afresh once it holds the lock.
    """
    job = _locked_job(session, job_id)
    if job is None:
        raise LookupError(f"job {job_id} not found")
    row = _locked_stage(session, job_id, stage)
    if job.status not in ACTIVE_STATUSES:
        return None
    now = utcnow()
    heartbeat = aware(row.heartbeat_at)
    if row.status == "running" and heartbeat and heartbeat > now - timedelta(seconds=lease_seconds):
        return None
    row.lease_token += 1
    row.status = "running"
    row.worker = worker
    row.attempts += 1
    row.started_at = now
    row.heartbeat_at = now
    row.finished_at = None
    row.error_code = row.error_message = None
    job.status = "running"
    job.current_stage = stage
    job.started_at = job.started_at or now
    return job, row.lease_token


def holds_lease(session: Session, job_id: str, stage: str, token: int) -> bool:
    """Lock the job and tell whether the run holding `token` is still the stage's current run.

    The lock stays until the transaction ends, so whatever the caller does next in it (promote
    outputs, record the result) cannot race a takeover or a cancel.
    """
    job = _locked_job(session, job_id)
    return job is not None and _is_current_run(session, job, stage, token)


def _is_current_run(session: Session, job: Job, stage: str, token: int) -> bool:
    """Whether `token` is the stage's running lease on the (already locked) job."""
    if job.status != "running":
        return False
    row = _locked_stage(session, job.id, stage)
    return row.lease_token == token and row.status == "running"


def heartbeat(session: Session, job_id: str, stage: str, token: int) -> bool:
    """Show the run holding `token` is alive; False once it has been superseded."""
    result = session.execute(
        update(JobStage)
        .where(JobStage.job_id == job_id, JobStage.name == stage,
               JobStage.lease_token == token, JobStage.status == "running")
        .values(heartbeat_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_dispatched(session: Session, job_id: str, stage: str) -> None:
    """Record that a message for the stage was just sent."""
    row = session.get(JobStage, (job_id, stage))
    if row is not None:
        row.dispatched_at = utcnow()


def mark_stage_running(session: Session, job_id: str, stage: str, worker: str) -> Job:
    """Start the stage on `worker` regardless of any lease (tests and tools)."""
    acquired = acquire_stage(session, job_id, stage, worker, lease_seconds=0)
    assert acquired is not None
    return acquired[0]


def mark_stage_succeeded(session: Session, job_id: str, stage: str,
                         artifacts: dict[str, str], token: int | None = None) -> Job | None:
    """The stage finished; the job succeeds with its last stage.

    With a token, only the run holding the current lease may record it (None otherwise).
    """
    if token is not None and not holds_lease(session, job_id, stage, token):
        return None
    job = session.get(Job, job_id)
    if job is None:
        raise LookupError(f"job {job_id} not found")
    row = stage_row(session, job_id, stage)
    now = utcnow()
    row.status = "succeeded"
    row.finished_at = now
    job.artifacts = {**(job.artifacts or {}), **artifacts}
    if stage == STAGE_NAMES[-1]:
        job.status = "succeeded"
        job.current_stage = None
        job.finished_at = now
    else:
        following = stage_row(session, job_id, STAGE_NAMES[STAGE_NAMES.index(stage) + 1])
        following.dispatched_at = now  # the chain sends its message as this task returns
    return job


def mark_stage_failed(session: Session, job_id: str, stage: str, code: str,
                      message: str, token: int | None = None) -> Job | None:
    """The stage failed: the job fails with it, and the stages after it are skipped."""
    job = _locked_job(session, job_id)
    if job is None or job.status not in ACTIVE_STATUSES:
        return None
    if token is not None and not _is_current_run(session, job, stage, token):
        return None  # a newer run of the stage, or a cancel, owns the outcome
    now = utcnow()
    for row in job.stages:
        if row.name == stage:
            row.status = "failed"
            row.finished_at = now
            row.error_code = code
            row.error_message = message
        elif row.status == "pending":
            row.status = "skipped"
    job.status = "failed"
    job.current_stage = stage
    job.error_stage = stage
    job.error_code = code
    job.error_message = message
    job.finished_at = now
    return job


def failure_text(job: Job) -> str:
    """Where and why a failed job failed, as a sentence's end: "in the voice stage (code): …"."""
    return f"in the {job.error_stage} stage ({job.error_code}): {job.error_message}"


def cancel_job(session: Session, job_id: str) -> Job:
    """Cancel a queued or running job; raises JobFinished for one that already ended.

    The stage it was in becomes `canceled` (so its running heartbeat finds itself stopped and
    a queued message finds nothing to run), the stages after it are skipped.
    """
    job = _locked_job(session, job_id)
    if job is None:
        raise LookupError(f"job {job_id} not found")
    if job.status in FINISHED_STATUSES:
        raise JobFinished(job)
    now = utcnow()
    current = next((row for row in job.stages if row.status in ("running", "pending")), None)
    for row in job.stages:
        if row is current:
            row.status = "canceled"
            row.finished_at = now
        elif row.status == "pending":
            row.status = "skipped"
    job.status = "canceled"
    job.current_stage = current.name if current is not None else None
    job.finished_at = now
    write_progress(session, job_id, job.current_stage or STAGE_NAMES[-1],
                   job_percent(session, None, job), "canceled")
    return job


def reopen_job(session: Session, job_id: str) -> str:
    """Make a failed or canceled job queued again from the stage it stopped in; returns it.

    Stages that succeeded keep their artifacts and are not run again; the stopped stage and
    the skipped ones after it become pending with fresh attempt counts. The lease token keeps
    counting, so a run from before the reopening can never record a result.
    """
    job = _locked_job(session, job_id)
    if job is None:
        raise LookupError(f"job {job_id} not found")
    if job.status not in ("failed", "canceled"):
        raise ValueError(f"job {job_id} is {job.status}, not failed or canceled")
    stopped = next(row for row in job.stages
                   if row.status in ("failed", "canceled", "running", "pending"))
    now = utcnow()
    for row in job.stages:
        if row.position >= stopped.position:
            row.status = "pending"
            row.attempts = 0
            row.worker = None
            row.started_at = row.finished_at = row.heartbeat_at = None
            row.error_code = row.error_message = None
            row.dispatched_at = now if row is stopped else None
    job.status = "queued"
    job.current_stage = None
    job.error_stage = job.error_code = job.error_message = None
    job.finished_at = None
    write_progress(session, job_id, stopped.name, overall_percent(stopped.name, 0.0),
                   f"retrying from {stopped.name}")
    return stopped.name


def write_progress(session: Session, job_id: str, stage: str, percent: int,
                   message: str | None) -> None:
    """Upsert the durable progress row."""
    row = session.get(GenerationProgress, job_id)
    if row is None:
        row = GenerationProgress(id=job_id)
        session.add(row)
    row.stage = stage
    row.percent = percent
    row.message = message
    row.updated_at = utcnow()


def job_percent(session: Session, live: Any | None, job: Job) -> int:
    """Overall progress of a job: live (Redis or memory) when known, else the durable row.

    `live` None reads only the durable row (when the broker is known to be down).
    """
    if job.status == "succeeded":
        return 100
    try:
        values = live.get(job.id) if live is not None else None
    except Exception:  # noqa: BLE001 - live progress is best effort; the row is the fallback
        values = None
    if values and values.get("percent", "").isdigit():
        return int(values["percent"])
    durable = session.get(GenerationProgress, job.id)
    return durable.percent if durable else 0


def active_job_for_project(session: Session, project_id: str) -> Job | None:
    """A queued or running job of the project, if any."""
    return session.scalar(
        select(Job).where(Job.project_id == project_id, Job.status.in_(ACTIVE_STATUSES))
        .order_by(Job.created_at.desc()).limit(1)
    )


def list_jobs(session: Session, account_id: str, *, limit: int, status: str | None = None,
              profile_id: str | None = None, project_id: str | None = None,
              before: Job | None = None) -> tuple[list[Job], bool]:
    """The account's jobs, newest first, after `before`; and whether more follow the page."""
    query = select(Job).where(Job.account_id == account_id)
    if status is not None:
        query = query.where(Job.status == status)
    if profile_id is not None:
        query = query.where(Job.profile_id == profile_id)
    if project_id is not None:
        query = query.where(Job.project_id == project_id)
    if before is not None:  # keyset paging: stable while new jobs arrive
        query = query.where(or_(Job.created_at < before.created_at,
                                and_(Job.created_at == before.created_at, Job.id < before.id)))
    rows = session.scalars(query.options(selectinload(Job.stages))
                           .order_by(Job.created_at.desc(), Job.id.desc())
                           .limit(limit + 1)).all()
    return list(rows[:limit]), len(rows) > limit
