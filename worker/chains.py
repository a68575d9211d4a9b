"""Dispatch a job as a Celery chain: script → voice → captions → render → publish."""

from __future__ import annotations

import logging

from celery import Celery, chain

from pipeline.sequence import STAGE_NAMES
from store.dispatch import DispatchMarks
from worker.celery_app import task_name
from worker.routing import INGEST_MARK, INGEST_ROUTE, ROUTES
from worker.tasks import INGEST_TASK

log = logging.getLogger(__name__)


def build_chain(app: Celery, job_id: str, from_stage: str | None = None) -> chain:
    """The job's chain from `from_stage` on; each task passes artifact keys, never bytes."""
    first = STAGE_NAMES.index(from_stage) if from_stage else 0
    # time_limit=None keeps the sender's limits out of the message: Celery prefers a limit
    # carried by the message over the task's own, and the worker running a stage is the one
    # whose TIME_LIMIT_SCALE must count.
    signatures = [
        app.signature(task_name(route.stage), queue=route.queue, time_limit=None,
                      soft_time_limit=None, priority=route.priority)
        for route in ROUTES[first:]
    ]
    signatures[0] = signatures[0].clone(args=({"job_id": job_id},))
    return chain(*signatures)


class CeleryDispatcher:
    """Distributed mode: the chain goes onto Redis for the cpu and gpu pools."""

    def __init__(self, app: Celery, marks: DispatchMarks) -> None:
        self.app = app
        self.marks = marks

    def dispatch(self, job_id: str, from_stage: str | None = None) -> None:
        """Mark the job's first message as sent, then enqueue its chain (from a stage on).

        The mark comes first: a fast worker clears it when it takes the message, and a mark
        written after that would make the reconciler believe a message is still on its way.
        """
        stage = from_stage or STAGE_NAMES[0]
        self.marks.mark(job_id, stage)
        try:
            build_chain(self.app, job_id, from_stage).apply_async()
        except BaseException:
            self.marks.clear(job_id, stage)
            raise

    def dispatch_many(self, job_ids: list[str]) -> None:
        """Enqueue new jobs' chains, their marks written in one round trip first. A job whose
        message cannot be sent keeps no mark, and the reconciler sends it later."""
        stage = STAGE_NAMES[0]
        self.marks.mark_many(job_ids, stage)
        for job_id in job_ids:
            try:
                build_chain(self.app, job_id).apply_async()
            except Exception:  # noqa: BLE001 - one lost message must not stop the others
                self.marks.clear(job_id, stage)
                log.exception("could not enqueue job %s; the reconciler will", job_id)

    def ingest(self, batch_id: str) -> None:
        """Mark, then send a batch's ingest to the cpu pool (the reconciler re-sends one whose
        message is lost)."""
        self.marks.mark(batch_id, INGEST_MARK)
        try:
            self.app.send_task(INGEST_TASK, args=(batch_id,), queue=INGEST_ROUTE.queue,
                               priority=INGEST_ROUTE.priority)
        except BaseException:
            self.marks.clear(batch_id, INGEST_MARK)
            raise

    def shutdown(self) -> None:
        """Nothing to stop: the workers are other processes."""
