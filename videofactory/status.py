"""`videofactory status`: queue depths, workers per pool, running and stalled jobs.

Postgres says what every job is doing; Redis says how much waits in each queue; the workers
say which queue they consume. Stalled means what the reconciler would act on, so the rule
lives in one place (`worker.reconcile.plan_actions`) and status only reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from store.jobs import ACTIVE_STATUSES, AWAITING_REVIEW, FINISHED_STATUSES, aware, job_percent
from store.models import Job, JobStage, utcnow
from store.services import Services, build_services
from store.settings import Settings
from worker.celery_app import create_celery
from worker.reconcile import plan_actions
from worker.routing import QUEUES

RECENT = timedelta(hours=24)
T = TypeVar("T")


@dataclass(frozen=True)
class RunningJob:
    """A job a worker is on right now."""

    job_id: str
    stage: str | None
    worker: str | None
    progress: int  # percent of the whole job
    stage_seconds: float | None  # how long its current stage has been running


@dataclass(frozen=True)
class StalledJob:
    """A job whose current stage lost its worker or its message."""

    job_id: str
    stage: str
    worker: str | None
    code: str  # worker_lost, message_lost, timeout or stuck
    reason: str
    next_step: str  # what the reconciler will do: redispatch or fail


@dataclass(frozen=True)
class StatusReport:
    """The state of a fleet at one moment; None where a part could not be reached."""

    taken_at: datetime
    mode: str  # distributed, or embedded (no broker: jobs run inside `serve`)
    queues: dict[str, int] | None  # messages waiting per queue
    unacked: int | None  # messages taken by a worker and not yet acknowledged
    workers: dict[str, list[str]] | None  # queue -> worker nodes consuming it
    # queued, running, awaiting_review, succeeded_24h, failed_24h, canceled_24h
    jobs: dict[str, int] | None
    running: list[RunningJob] = field(default_factory=list)
    stalled: list[StalledJob] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, for `--json`."""
        data = asdict(self)
        data["taken_at"] = self.taken_at.isoformat()
        return data


def gather_status(settings: Settings, *, now: datetime | None = None,
                  ping_timeout: float = 1.0) -> StatusReport:
    """Read the fleet's state from Postgres, Redis and the workers; never change anything."""
    now = now or utcnow()
    problems: list[str] = []
    services = build_services(settings)
    try:
        broker_up = _broker_reachable(services.redis, problems)
        jobs = _read(services, problems, "database", lambda s: _job_counts(s, now))
        running: list[RunningJob] = []
        stalled: list[StalledJob] = []
        if jobs is not None:
            running = _read(services, problems, "running jobs",
                            lambda s: _running_jobs(s, services, now, live=broker_up)) or []
            if broker_up or settings.embedded:
                stalled = _read(services, problems, "stalled jobs",
                                lambda s: _stalled_jobs(s, services, now)) or []
            else:
                problems.append("stalled jobs: unknown while the broker is unreachable "
                                "(the dispatch marks live there)")
        queues = unacked = workers = None
        if broker_up:
            queues, unacked, workers = _broker_part(settings, services.redis, ping_timeout,
                                                    problems)
    finally:
        services.close()
    mode = "embedded" if settings.embedded else "distributed"
    return StatusReport(now, mode, queues, unacked, workers, jobs, running, stalled, problems)


def _broker_reachable(redis: Any, problems: list[str]) -> bool:
    if redis is None:  # embedded mode: no broker to ask
        return False
    try:
        redis.ping()
    except Exception as exc:  # noqa: BLE001 - report it; the database part still shows
        problems.append(f"broker: {exc.__class__.__name__}: {_first_line(exc)}")
        return False
    return True


def _read(services: Services, problems: list[str], part: str,
          query: Callable[[Session], T]) -> T | None:
    """One read-only session; a failure becomes a problem line instead of an exception."""
    try:
        with services.sessions() as session:
            return query(session)
    except Exception as exc:  # noqa: BLE001 - report what we could reach
        problems.append(f"{part}: {exc.__class__.__name__}: {_first_line(exc)}")
        return None


def _job_counts(session: Session, now: datetime) -> dict[str, int]:
    active = dict(session.execute(
        select(Job.status, func.count())
        .where(Job.status.in_((*ACTIVE_STATUSES, AWAITING_REVIEW)))
        .group_by(Job.status)).all())
    finished = dict(session.execute(
        select(Job.status, func.count())
        .where(Job.status.in_(FINISHED_STATUSES), Job.finished_at >= now - RECENT)
        .group_by(Job.status)).all())
    return {"queued": active.get("queued", 0), "running": active.get("running", 0),
            "awaiting_review": active.get(AWAITING_REVIEW, 0),
            "succeeded_24h": finished.get("succeeded", 0),
            "failed_24h": finished.get("failed", 0),
            "canceled_24h": finished.get("canceled", 0)}


def _running_jobs(session: Session, services: Services, now: datetime, *, live: bool
                  ) -> list[RunningJob]:
    found = session.scalars(select(Job).where(Job.status == "running")
                            .options(selectinload(Job.stages)).order_by(Job.started_at))
    result = []
    for job in found:
        stage = next((row for row in job.stages if row.name == job.current_stage), None)
        started = aware(stage.started_at) if stage is not None else None
        result.append(RunningJob(
            job.id, job.current_stage, stage.worker if stage is not None else None,
            job_percent(session, services.live if live else None, job),
            round((now - started).total_seconds(), 1) if started else None))
    return result


def _stalled_jobs(session: Session, services: Services, now: datetime) -> list[StalledJob]:
    # plan_actions only reads; it is the reconciler's own rule for "needs help".
    result = []
    for action in plan_actions(session, services, now):
        row = session.get(JobStage, (action.job_id, action.stage))
        result.append(StalledJob(action.job_id, action.stage, row.worker if row else None,
                                 action.code, action.reason, action.kind))
    return result


def queue_keys(queue: str, transport_options: dict[str, Any]) -> list[str]:
    """The Redis lists kombu keeps a queue in: the queue's name, plus one per priority step."""
    from kombu.transport.redis import PRIORITY_STEPS, Channel

    prefix = transport_options.get("global_keyprefix", "")
    sep = transport_options.get("sep", Channel.sep)
    steps = transport_options.get("priority_steps", PRIORITY_STEPS)
    return [prefix + (f"{queue}{sep}{step}" if step else queue) for step in steps]


def _broker_part(settings: Settings, redis: Any, ping_timeout: float, problems: list[str]
                 ) -> tuple[dict[str, int] | None, int | None, dict[str, list[str]] | None]:
    app = create_celery(settings)
    options = dict(app.conf.broker_transport_options or {})
    queues = {queue: sum(int(redis.llen(key)) for key in queue_keys(queue, options))
              for queue in QUEUES}
    unacked = int(redis.hlen(options.get("global_keyprefix", "")
                             + options.get("unacked_key", "unacked")))
    try:
        replies = app.control.inspect(timeout=ping_timeout).active_queues() or {}
    except Exception as exc:  # noqa: BLE001
        problems.append(f"workers: {exc.__class__.__name__}: {_first_line(exc)}")
        return queues, unacked, None
    finally:
        app.close()
    workers: dict[str, list[str]] = {queue: [] for queue in QUEUES}
    for node, consumed in sorted(replies.items()):
        for queue in consumed or []:
            workers.setdefault(queue["name"], []).append(node)
    return queues, unacked, workers


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def format_status(report: StatusReport) -> str:
    """The report as a few aligned lines for a terminal."""
    lines = []
    if report.mode == "embedded":
        lines.append("mode      embedded (no REDIS_URL): jobs run inside `videofactory serve`")
    if report.queues is not None:
        waiting = "   ".join(f"{queue} {depth}" for queue, depth in report.queues.items())
        lines.append(f"queues    {waiting}   (unacked {report.unacked})")
    if report.workers is not None:
        pools = "   ".join(f"{queue} {len(nodes)}" + (f" ({', '.join(nodes)})" if nodes else "")
                           for queue, nodes in report.workers.items())
        lines.append(f"workers   {pools}")
    if report.jobs is not None:
        counts = report.jobs
        lines.append(f"jobs      queued {counts['queued']}   running {counts['running']}   "
                     f"succeeded {counts['succeeded_24h']}   failed {counts['failed_24h']}   "
                     f"canceled {counts.get('canceled_24h', 0)}"
                     "   (finished in the last 24 h)")
        if counts.get("awaiting_review"):
            lines.append(f"review    {counts['awaiting_review']} job(s) awaiting approval of "
                         "their script")
    lines.append(f"running   {len(report.running)}")
    for job in report.running:
        took = _duration(job.stage_seconds)
        lines.append(f"  {job.job_id}  {job.stage or '-':9} {job.progress:3d}%  "
                     f"{job.worker or '-'}  {took}".rstrip())
    lines.append(f"stalled   {len(report.stalled)}")
    for stalled in report.stalled:
        lines.append(f"  {stalled.job_id}  {stalled.stage:9} {stalled.worker or '-'}  "
                     f"{stalled.code}: {stalled.reason} (reconciler: {stalled.next_step})")
    for problem in report.problems:
        lines.append(f"problem   {problem}")
    return "\n".join(lines)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
