"""Run one stage of one job: record it, call its adapter, record how it ended.

Both runners (Celery tasks and the in-process runner) go through `execute_stage`, so a
stage behaves the same wherever it runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from pipeline.sequence import STAGE_NAMES
from pipeline.tools import Stopped, StopScope, ToolError
from pipeline.types import StageError
from store import jobs, review
from store.costs import record_usage
from store.db import DatabaseUnavailable, session_scope
from store.logs import job_context
from store.models import Job, Publication, new_id
from store.progress import ProgressReporter
from store.publications import PublicationState, find_publication, save_publication
from store.services import Services
from worker.destinations import deliver_finished_job
from worker.job_events import announce_job_end
from worker.kept_lock import heartbeat_interval
from worker.run_media import RunMedia
from worker.stages import STAGE_ADAPTERS, JobInput, StageContext, outputs_of

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long a worker keeps retrying a state write while the database is unreachable.
DB_RETRY_SECONDS = 300.0


class StageFailed(Exception):
    """The stage failed and the failure is recorded on the job."""

    def __init__(self, stage: str, code: str, message: str) -> None:
        super().__init__(f"{stage} failed ({code}): {message}")
        self.stage = stage
        self.code = code
        self.message = message


class JobNotRunnable(Exception):
    """The job is gone or already finished; there is nothing to do."""


class AwaitingReview(JobNotRunnable):
    """The job waits for a person to approve its script; its next stage runs once approved."""


def with_database(services: Services, work: Callable[[Session], T],
                  retry_seconds: float = DB_RETRY_SECONDS) -> T:
    """Run `work` in a transaction, retrying while the database is unreachable."""

    @retry(retry=retry_if_exception_type(DatabaseUnavailable), reraise=True,
           stop=stop_after_delay(retry_seconds), wait=wait_exponential(min=0.5, max=10))
    def attempt() -> T:
        with session_scope(services.sessions) as session:
            return work(session)

    return attempt()


def _snapshot(job: Job) -> JobInput:
    return JobInput(job_id=job.id, preset=job.preset, source=dict(job.source),
                    options=dict(job.options or {}), artifacts=dict(job.artifacts or {}))


def _durable_writer(services: Services) -> Callable[[str, str, int, str | None], None]:
    def write(job_id: str, stage: str, percent: int, message: str | None) -> None:
        # One quick try: a failed durable write stays pending in the reporter.
        with session_scope(services.sessions) as session:
            jobs.write_progress(session, job_id, stage, percent, message)

    return write


def release_project_lock(services: Services, job_id: str, project_id: str) -> None:
    """Free the project for its next generation; a failure only logs (the lock expires)."""
    try:
        services.locks.release(project_id, job_id)
    except Exception as exc:  # noqa: BLE001 - the lock expires by itself anyway
        log.warning("could not release project lock: %s", exc)


def execute_stage(
    services: Services,
    stage: str,
    job_id: str,
    *,
    worker: str,
    timeout_errors: tuple[type[BaseException], ...] = (),
    on_update: Callable[[str, float], None] | None = None,
) -> dict[str, str]:
    """Run `stage` of `job_id` on `worker`; return the job's artifact keys afterwards."""
    with job_context(job_id, stage):
        return _execute(services, stage, job_id, worker, timeout_errors, on_update)


class StageBusy(Exception):
    """Another live run holds the stage's lease; this delivery must not run it again."""


class StageSuperseded(Exception):
    """This run lost its lease (a newer run took over, or the job was canceled)."""


class _Heartbeat:
    """Refreshes the stage lease from a thread; stops the run's tools once it is superseded."""

    def __init__(self, services: Services, job_id: str, stage: str, token: int,
                 scope: StopScope) -> None:
        self.services, self.job_id, self.stage, self.token = services, job_id, stage, token
        self.scope = scope
        self.interval = heartbeat_interval(services.settings.stage_lease_seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="vf-heartbeat")

    def _run(self) -> None:
        wait = self.interval
        while not self._stop.wait(wait):
            try:
                with session_scope(self.services.sessions) as session:
                    alive = jobs.heartbeat(session, self.job_id, self.stage, self.token)
                wait = self.interval
            except Exception as exc:  # noqa: BLE001 - the database may be away for a while
                log.warning("heartbeat not written: %s", exc)
                wait = min(1.0, self.interval)  # check in as soon as the database is back
                continue
            if not alive:
                log.warning("lease %d lost (job canceled or stage taken over): stopping",
                            self.token)
                self.scope.stop(f"the {self.stage} run lost its lease: the job was canceled "
                                "or another run took the stage over")
                return

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _refresh_lock(services: Services, project_id: str, job_id: str) -> None:
    try:
        services.locks.refresh(project_id, job_id, services.settings.project_lock_ttl)
    except Exception as exc:  # noqa: BLE001 - Redis away for a moment must not kill the stage
        log.warning("project lock not refreshed: %s", exc)


def _execute(services: Services, stage: str, job_id: str, worker: str,
             timeout_errors: tuple[type[BaseException], ...],
             on_update: Callable[[str, float], None] | None) -> dict[str, str]:
    settings = services.settings

    def start(session: Session) -> tuple[JobInput | None, str, int]:
        job = session.get(Job, job_id)
        if job is None:
            raise JobNotRunnable(f"job {job_id} does not exist")
        if job.status in jobs.FINISHED_STATUSES:
            raise JobNotRunnable(f"job {job_id} already {job.status}")
        if job.status == jobs.AWAITING_REVIEW:  # the chain's next message, sent regardless
            raise AwaitingReview(f"job {job_id} is awaiting review of its script")
        row = next(r for r in job.stages if r.name == stage)
        outputs = outputs_of(stage, job_id)
        if row.status == "succeeded" and all(services.media.exists(k) for k in outputs.values()):
            return None, job.project_id, 0  # redelivered after a crash: nothing to redo
        acquired = jobs.acquire_stage(session, job_id, stage, worker,
                                      settings.stage_lease_seconds)
        if acquired is None:
            raise StageBusy(f"{stage} of {job_id} is running elsewhere, or the job ended")
        return _snapshot(acquired[0]), job.project_id, acquired[1]

    job_input, project_id, token = with_database(services, start)
    _forget_dispatch(services, job_id, stage)
    if job_input is None:
        log.info("stage already done, skipping")
        return with_database(services, lambda s: dict(s.get(Job, job_id).artifacts or {}))
    _refresh_lock(services, project_id, job_id)
    reporter = ProgressReporter(job_id, services.live, _durable_writer(services),
                                on_update=on_update)
    scope = StopScope()
    last_refresh = time.monotonic()

    stage_thread = threading.current_thread()

    def on_progress(fraction: float) -> None:
        nonlocal last_refresh
        if threading.current_thread() is stage_thread:
            # In-process work (speech, models) stops at its next progress report; reports
            # from a tool's output reader only end with the tool, which the scope kills.
            scope.check()
        reporter.report(stage, fraction)
        if time.monotonic() - last_refresh > 10:
            last_refresh = time.monotonic()
            _refresh_lock(services, project_id, job_id)

    scratch = services.media.scratch_dir(job_id, stage)
    run_media = RunMedia(services.media, job_id, stage, token)
    started = time.monotonic()
    log.info("stage started on %s (lease %d)", worker, token)
    try:
        with _Heartbeat(services, job_id, stage, token, scope), scope.active():
            try:
                on_progress(0.0)
                context = StageContext(settings, run_media, scratch, on_progress,
                                       DatabaseLedger(services, job_id),
                                       still_current=lambda: _holds(services, job_id, stage,
                                                                    token),
                                       record_usage=lambda usage: with_database(
                                           services, lambda s: record_usage(s, job_id, usage)))
                outputs = STAGE_ADAPTERS[stage](context, job_input)
                scope.check()
            except BaseException as exc:  # noqa: BLE001 - recorded, then re-raised
                if scope.stopped or isinstance(exc, Stopped):
                    log.warning("stage stopped: %s", scope.reason or exc)
                    raise StageSuperseded(f"{stage} of {job_id}: {scope.reason}") from exc
                code, message = _describe_failure(stage, exc, timeout_errors)
                if code == "interrupted":
                    raise  # worker shutdown or SIGINT: the message is redelivered, not failed
                log.error("stage failed: %s: %s", code, message,
                          exc_info=code == "internal_error")
                if not _record_failure(services, job_id, stage, code, message, reporter,
                                       token):
                    log.warning("failure not recorded: this run lost its lease to a newer "
                                "run or a cancel")
                    raise StageSuperseded(f"{stage} of {job_id} was superseded") from exc
                release_project_lock(services, job_id, project_id)
                announce_job_end(services, job_id)
                raise StageFailed(stage, code, message) from exc
            finally:
                services.media.discard_scratch(scratch)
        reporter.report(stage, 1.0)

        def finish(session: Session) -> tuple[dict[str, str], str] | None:
            # The job's row stays locked from this check to the commit: promoting the outputs
            # and recording the result cannot race a takeover or a cancel.
            if not jobs.holds_lease(session, job_id, stage, token):
                return None
            run_media.promote()
            # No token: the lease was checked just above, under the lock this transaction holds.
            job = jobs.mark_stage_succeeded(session, job_id, stage, outputs)
            if job is None:
                return None
            if stage == review.SCRIPT_STAGE and review.wants_review(job.options):
                review.hold_for_review(session, job)  # with the success, never without it
            return dict(job.artifacts), job.status

        finished = with_database(services, finish)
    finally:
        run_media.discard_staged()
    if finished is None:
        log.warning("this run lost its lease; its result is dropped")
        raise StageSuperseded(f"{stage} of {job_id} was superseded or canceled")
    artifacts, status = finished
    reporter.flush()
    log.info("stage finished in %.1f s", time.monotonic() - started,
             extra={"duration_s": round(time.monotonic() - started, 3)})
    if status == jobs.AWAITING_REVIEW:
        # A review may take days: no lock may expire under it, so the project is free and
        # the API refuses its next generation from the database instead.
        log.info("job awaits review of its script")
        release_project_lock(services, job_id, project_id)
    elif stage == STAGE_NAMES[-1]:
        release_project_lock(services, job_id, project_id)
        # The webhook and Postiz; the reconciler goes on with whatever has to wait.
        deliver_finished_job(services, job_id, job_input.options)
    else:
        _mark_dispatch(services, job_id, STAGE_NAMES[STAGE_NAMES.index(stage) + 1])
    return artifacts


def _holds(services: Services, job_id: str, stage: str, token: int) -> bool:
    """Whether this run is still the stage's current run (checked before outside effects)."""
    return with_database(services, lambda s: jobs.holds_lease(s, job_id, stage, token))


class DatabaseLedger:
    """Publications recorded in Postgres, unique by idempotency key."""

    def __init__(self, services: Services, job_id: str) -> None:
        self.services = services
        self.job_id = job_id

    def find(self, key: str) -> str | None:
        """Where the publication with this key went, if it was made."""
        def look(session: Session) -> str | None:
            row = session.scalar(select(Publication).where(Publication.idempotency_key == key))
            return None if row is None else (row.location or "")

        return with_database(self.services, look)

    def record(self, key: str, destination: str, location: str) -> None:
        """Remember a publication; a racing duplicate insert loses to the unique key."""
        def insert(session: Session) -> None:
            session.add(Publication(id=new_id("pub"), job_id=self.job_id,
                                    destination=destination, idempotency_key=key,
                                    location=location))

        try:
            with_database(self.services, insert)
        except IntegrityError:
            log.info("publication %s was already recorded", key)

    def get(self, key: str) -> PublicationState | None:
        """How far the publication with this key went, if it was started."""
        return with_database(self.services, lambda s: find_publication(s, key))

    def save(self, state: PublicationState) -> None:
        """Write down where a publication stands, before the next step outside."""
        with_database(self.services, lambda s: save_publication(s, self.job_id, state))


def _forget_dispatch(services: Services, job_id: str, stage: str) -> None:
    try:
        services.marks.clear(job_id, stage)
    except Exception as exc:  # noqa: BLE001 - the reconciler copes with a stale mark
        log.warning("could not clear dispatch mark: %s", exc)


def _mark_dispatch(services: Services, job_id: str, stage: str) -> None:
    try:
        services.marks.mark(job_id, stage)
    except Exception as exc:  # noqa: BLE001 - without the mark the reconciler re-sends
        log.warning("could not set dispatch mark: %s", exc)


def _describe_failure(stage: str, exc: BaseException,
                      timeout_errors: tuple[type[BaseException], ...]) -> tuple[str, str]:
    if isinstance(exc, StageError):
        return exc.code, exc.message
    if timeout_errors and isinstance(exc, timeout_errors):
        return "timeout", f"the {stage} stage ran past its time limit and was stopped"
    if isinstance(exc, ToolError):
        return "tool_failed", str(exc)
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return "interrupted", "stopped"
    if isinstance(exc, DatabaseUnavailable):
        return "database_unavailable", f"the database stayed unreachable: {exc}"
    return "internal_error", f"{type(exc).__name__}: {exc}"


def _record_failure(services: Services, job_id: str, stage: str, code: str, message: str,
                    reporter: ProgressReporter, token: int | None = None) -> bool:
    """Record the failure; False when a newer run or a cancel owns the job's outcome."""
    try:
        services.live.set(job_id, {"stage": stage, "status": "failed"})
    except Exception as exc:  # noqa: BLE001 - live progress is best effort
        log.warning("live progress write failed: %s", exc)
    reporter.flush()
    return with_database(services, lambda s: jobs.mark_stage_failed(
        s, job_id, stage, code, message, token)) is not None
