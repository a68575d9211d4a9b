"""Dispatch a job as a Celery chain: script → voice → captions → render → publish."""

from __future__ import annotations

from celery import Celery, chain

from pipeline.sequence import STAGE_SEQUENCE
from worker.celery_app import task_name


def build_chain(app: Celery, job_id: str) -> chain:
    """The job's chain of stage signatures; each passes artifact keys, never media bytes."""
    signatures = [
        app.signature(task_name(spec.name.value), queue=spec.queue)
        for spec in STAGE_SEQUENCE
    ]
    signatures[0] = signatures[0].clone(args=({"job_id": job_id},))
    return chain(*signatures)


class CeleryDispatcher:
    """Distributed mode: the chain goes onto Redis for the cpu and gpu pools."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def dispatch(self, job_id: str) -> None:
        """Enqueue the job's chain."""
        build_chain(self.app, job_id).apply_async()

    def shutdown(self) -> None:
        """Nothing to stop: the workers are other processes."""
