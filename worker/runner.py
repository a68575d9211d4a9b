"""The in-process runner: the stage sequence in this process, one stage after another."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from pipeline.sequence import STAGE_NAMES
from store.services import Services
from worker.execution import (
    AwaitingReview,
    JobNotRunnable,
    StageBusy,
    StageFailed,
    StageSuperseded,
    execute_stage,
)

log = logging.getLogger(__name__)


def run_job(services: Services, job_id: str, *, worker: str = "local",
            on_update: Callable[[str, float], None] | None = None) -> bool:
    """Run every stage of the job here; True when it succeeded (failures are recorded).

    False too when the job stopped to await review of its script: its status says so.
    """
    for stage in STAGE_NAMES:
        try:
            execute_stage(services, stage, job_id, worker=worker, on_update=on_update)
        except StageFailed:
            return False
        except AwaitingReview:
            log.info("job %s awaits review of its script", job_id)
            return False
        except (JobNotRunnable, StageBusy, StageSuperseded) as exc:
            log.warning("%s", exc)
            return False
    return True


class InProcessDispatcher:
    """Embedded `serve`: jobs run one at a time on a background thread of the API process."""

    def __init__(self, services: Services, worker: str = "embedded") -> None:
        self.services = services
        self.worker = worker
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vf-job")

    def dispatch(self, job_id: str, from_stage: str | None = None) -> Future[bool]:
        """Queue the job on the background thread (stages already done are skipped, so
        `from_stage` needs no special handling)."""
        return self._executor.submit(run_job, self.services, job_id, worker=self.worker)

    def dispatch_many(self, job_ids: list[str]) -> None:
        """Queue new jobs behind each other on the background thread."""
        for job_id in job_ids:
            self.dispatch(job_id)

    def ingest(self, batch_id: str) -> Future[None]:
        """Read the batch on the background thread; its jobs queue up behind it there."""
        return self._executor.submit(self._ingest, batch_id)

    def _ingest(self, batch_id: str) -> None:
        from worker.batches import ingest_batch

        scratch = self.services.media.scratch_dir("batches", batch_id)
        try:
            ingest_batch(self.services, batch_id, self.dispatch_many, scratch)
        except Exception:  # noqa: BLE001 - a thread's exception would be lost silently
            log.exception("batch %s could not be read", batch_id)
            raise
        finally:
            self.services.media.discard_scratch(scratch)

    def ping(self) -> None:
        """The in-process runner is always reachable."""

    def shutdown(self) -> None:
        """Finish queued jobs, then stop the thread."""
        self._executor.shutdown(wait=True)
