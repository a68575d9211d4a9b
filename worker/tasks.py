"""Celery tasks: one per stage, each a thin adapter around `execute_stage`."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task
from celery.exceptions import Ignore, SoftTimeLimitExceeded

from store.services import Services, build_services
from worker.celery_app import task_name
from worker.execution import JobNotRunnable, StageBusy, StageSuperseded, execute_stage
from worker.routing import INGEST_ROUTE, ROUTES, StageRoute

_services: dict[int, Services] = {}


def services_for(app: Celery) -> Services:
    """This process's connections; a forked pool child builds its own, never the parent's."""
    pid = os.getpid()
    if pid not in _services:
        _services.clear()
        _services[pid] = build_services(app.vf_settings)  # type: ignore[attr-defined]
    return _services[pid]


def _register(app: Celery, route: StageRoute) -> None:
    stage = route.stage
    scale = app.vf_settings.time_limit_scale  # type: ignore[attr-defined]

    # shared=False: the task belongs to this app alone; a shared one would be copied into
    # every other app the process makes (tests and benchmarks make several).
    @app.task(name=task_name(stage), bind=True, shared=False, acks_late=True,
              reject_on_worker_lost=True,
              soft_time_limit=route.soft_time_limit * scale, time_limit=route.time_limit * scale)
    def run_stage(self: Task, keys: dict[str, Any]) -> dict[str, Any]:
        """Run this stage for keys["job_id"] and pass the job's artifact keys on."""
        job_id = keys["job_id"]
        try:
            artifacts = execute_stage(services_for(self.app), stage, job_id,
                                      worker=self.request.hostname or "unknown",
                                      timeout_errors=(SoftTimeLimitExceeded,))
        except (JobNotRunnable, StageBusy, StageSuperseded):
            # Gone, finished, or another run owns the stage: stop this chain quietly.
            raise Ignore() from None
        return {"job_id": job_id, **artifacts}


INGEST_TASK = "videofactory.batch_ingest"


def _register_ingest(app: Celery) -> None:
    scale = app.vf_settings.time_limit_scale  # type: ignore[attr-defined]

    @app.task(name=INGEST_TASK, bind=True, shared=False, acks_late=True,
              reject_on_worker_lost=True,
              soft_time_limit=INGEST_ROUTE.soft_time_limit * scale,
              time_limit=INGEST_ROUTE.time_limit * scale)
    def ingest(self: Task, batch_id: str) -> None:
        """Read a batch's feed or collection and enqueue its jobs."""
        from worker.batches import ingest_batch
        from worker.chains import CeleryDispatcher

        svc = services_for(self.app)
        scratch = svc.media.scratch_dir("batches", batch_id)
        try:
            ingest_batch(svc, batch_id, CeleryDispatcher(self.app, svc.marks).dispatch_many,
                         scratch)
        finally:
            svc.media.discard_scratch(scratch)


def register_tasks(app: Celery) -> None:
    """Register one task per stage, and the batch ingest, on the app."""
    for route in ROUTES:
        _register(app, route)
    _register_ingest(app)
