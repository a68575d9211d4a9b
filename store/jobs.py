"""Job and stage state: every change is a short transaction; Postgres is the truth."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.sequence import STAGE_NAMES, STAGE_SEQUENCE
from store.models import GenerationProgress, Job, JobStage, Project, new_id, utcnow

ACTIVE_STATUSES = ("queued", "running")


def create_project(session: Session, profile_id: str, name: str) -> Project:
    """A new project under a profile."""
    project = Project(id=new_id("proj"), profile_id=profile_id, name=name[:200] or "Untitled")
    session.add(project)
    session.flush()
    return project


def create_job(session: Session, *, account_id: str, profile_id: str, project_id: str,
               source: dict[str, Any], preset: str, options: dict[str, Any] | None = None) -> Job:
    """A queued job with one pending row per stage."""
    job = Job(id=new_id("job"), account_id=account_id, profile_id=profile_id,
              project_id=project_id, status="queued", preset=preset, source=source,
              options=options or {}, artifacts={})
    job.stages = [
        JobStage(job_id=job.id, name=spec.name.value, position=i, queue=spec.queue,
                 status="pending", attempts=0)
        for i, spec in enumerate(STAGE_SEQUENCE)
    ]
    session.add(job)
    session.add(GenerationProgress(id=job.id, stage=None, percent=0, message="queued"))
    session.flush()
    return job


def _stage(session: Session, job_id: str, stage: str) -> JobStage:
    row = session.get(JobStage, (job_id, stage))
    if row is None:
        raise LookupError(f"job {job_id} has no stage {stage}")
    return row


def mark_stage_running(session: Session, job_id: str, stage: str, worker: str) -> Job:
    """The stage started on `worker`; the job is running."""
    job = session.get(Job, job_id)
    if job is None:
        raise LookupError(f"job {job_id} not found")
    row = _stage(session, job_id, stage)
    now = utcnow()
    row.status = "running"
    row.worker = worker
    row.attempts += 1
    row.started_at = now
    row.finished_at = None
    row.error_code = row.error_message = None
    job.status = "running"
    job.current_stage = stage
    job.started_at = job.started_at or now
    return job


def mark_stage_succeeded(session: Session, job_id: str, stage: str,
                         artifacts: dict[str, str]) -> Job:
    """The stage finished; the job succeeds with its last stage."""
    job = session.get(Job, job_id)
    if job is None:
        raise LookupError(f"job {job_id} not found")
    row = _stage(session, job_id, stage)
    now = utcnow()
    row.status = "succeeded"
    row.finished_at = now
    job.artifacts = {**(job.artifacts or {}), **artifacts}
    if stage == STAGE_NAMES[-1]:
        job.status = "succeeded"
        job.current_stage = None
        job.finished_at = now
    return job


def mark_stage_failed(session: Session, job_id: str, stage: str, code: str,
                      message: str) -> Job | None:
    """The stage failed: the job fails with it, and the stages after it are skipped."""
    job = session.get(Job, job_id)
    if job is None:
        return None
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


def active_job_for_project(session: Session, project_id: str) -> Job | None:
    """A queued or running job of the project, if any."""
    return session.scalar(
        select(Job).where(Job.project_id == project_id, Job.status.in_(ACTIVE_STATUSES))
        .order_by(Job.created_at.desc()).limit(1)
    )
