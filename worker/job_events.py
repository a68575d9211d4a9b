"""The webhook events a finished job raises: job.succeeded or job.failed, and batch.completed
when it was the last open item of its batch."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from store import batches as batch_store
from store.db import session_scope
from store.models import Batch, BatchItem, Job
from store.services import Services
from worker.webhooks import emit

log = logging.getLogger(__name__)


def _job_data(job: Job) -> dict[str, Any]:
    data: dict[str, Any] = {"job_id": job.id, "status": job.status,
                            "project_id": job.project_id, "profile_id": job.profile_id,
                            "preset": job.preset}
    if job.status == "failed":
        data["error"] = {"stage": job.error_stage, "code": job.error_code,
                         "message": job.error_message}
    else:
        data["video_url"] = f"/v1/jobs/{job.id}/video"
    return data


def announce_job_end(services: Services, job_id: str) -> None:
    """Tell the job's profile webhook how the job ended, and its batch's when it was the
    batch's last open item. Never raises."""
    try:
        with session_scope(services.sessions) as session:
            job = session.get(Job, job_id)
            if job is None or job.status not in ("succeeded", "failed"):
                return
            data, profile_id = _job_data(job), job.profile_id
            finished = _finished_batches(session, job_id)
        emit(services, profile_id, f"job.{data['status']}", job_id, data)
        for batch_id, batch_profile, counts, status in finished:
            emit(services, batch_profile, "batch.completed", batch_id,
                 {"batch_id": batch_id, "status": status, "counts": counts})
    except Exception:  # noqa: BLE001 - a webhook never fails the job it reports on
        log.exception("could not announce the end of job %s", job_id)


def _finished_batches(session: Any, job_id: str) -> list[tuple[str, str | None,
                                                                 dict[str, int], str]]:
    """The batches this job's items belong to that have nothing left to run."""
    done = []
    for batch in session.scalars(select(Batch).join(BatchItem, BatchItem.batch_id == Batch.id)
                                 .where(BatchItem.job_id == job_id).distinct()):
        counts = batch_store.batch_counts(session, batch.id)
        status = batch_store.batch_status(batch, counts)
        if status in ("succeeded", "partial", "failed"):
            done.append((batch.id, batch.profile_id, counts, status))
    return done
