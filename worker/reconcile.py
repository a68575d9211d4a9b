"""The reconciler: Postgres is the truth, so every active job's current stage is checked.

A stage whose run stopped sending heartbeats (its worker died) or whose message is gone
(Redis lost it) is sent again; the stage lease makes sure it never runs twice at once, and a
finished stage is skipped. A stage that keeps dying, or ran past its hard time limit, fails
its job with the reason instead of looping forever. The ingest of a batch left unread (its
message lost, or its reader dead: no mark and no live ingest lease) is sent again too, and
resumes after the items written.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.orm import Session, selectinload

from store import jobs
from store.db import DatabaseUnavailable
from store.models import Batch, Job, utcnow
from store.services import Services
from worker.execution import with_database
from worker.postiz_delivery import advance_due
from worker.routing import INGEST_MARK, route_for
from worker.webhooks import deliver

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    """Sends a job's chain from a stage on, and a batch's ingest."""

    def dispatch(self, job_id: str, from_stage: str | None = None) -> None:
        """Enqueue the job from `from_stage`."""

    def ingest(self, batch_id: str) -> None:
        """Enqueue the batch's ingest."""


@dataclass(frozen=True)
class Action:
    """What the reconciler decided for one job."""

    job_id: str  # for "reingest", the batch's id
    project_id: str
    stage: str
    kind: str  # "redispatch", "fail" or "reingest"
    code: str
    reason: str


def plan_actions(session: Session, services: Services, now: datetime) -> list[Action]:
    """Decide, for every queued or running job, whether its current stage needs help."""
    settings = services.settings
    lease = timedelta(seconds=settings.stage_lease_seconds)
    actions = []
    # One query for every active job's stages: a batch leaves thousands of jobs queued, and
    # loading each job's stages on its own would be a query per job every pass.
    active = session.scalars(select(Job).where(Job.status.in_(jobs.ACTIVE_STATUSES))
                             .options(selectinload(Job.stages)))
    for job in active:
        current = next((row for row in job.stages if row.status != "succeeded"), None)
        if current is None or current.status not in ("running", "pending"):
            continue
        if services.marks.present(job.id, current.name):
            continue  # a message for it is on its way
        if current.status == "running":
            heartbeat = jobs.aware(current.heartbeat_at) or jobs.aware(current.started_at)
            if heartbeat is None or heartbeat > now - lease:
                continue
            started = jobs.aware(current.started_at) or now
            limit = route_for(current.name).time_limit * settings.time_limit_scale
            if now - started >= timedelta(seconds=limit):
                actions.append(Action(job.id, job.project_id, current.name, "fail", "timeout",
                                      f"the {current.name} stage ran past its time limit of "
                                      f"{limit:.0f} s and was stopped"))
            elif current.attempts >= settings.max_stage_attempts:
                actions.append(Action(job.id, job.project_id, current.name, "fail", "stuck",
                                      f"the {current.name} stage lost its worker "
                                      f"{current.attempts} times; the input may crash it"))
            else:
                silent = (now - heartbeat).total_seconds()
                actions.append(Action(job.id, job.project_id, current.name, "redispatch",
                                      "worker_lost", f"no heartbeat for {silent:.0f} s"))
        else:
            sent = jobs.aware(current.dispatched_at) or jobs.aware(job.created_at) or now
            if sent <= now - lease:
                actions.append(Action(job.id, job.project_id, current.name, "redispatch",
                                      "message_lost", "its message is no longer in the queue"))
    return actions


def plan_reingests(session: Session, services: Services, now: datetime) -> list[Action]:
    """Batches not yet read (queued) or read no further (parsing) that nobody will read: no
    ingest message on its way and no live reader. A fresh batch gets a lease period first."""
    lease = timedelta(seconds=services.settings.stage_lease_seconds)
    actions = []
    rows = session.execute(select(Batch.id, Batch.status, Batch.created_at)
                           .where(Batch.status.in_(("queued", "parsing"))))
    for batch_id, status, created_at in rows:
        if (jobs.aware(created_at) or now) > now - lease:
            continue
        if services.marks.present(batch_id, INGEST_MARK):
            continue
        if services.locks.holder(f"ingest:{batch_id}") is not None:
            continue
        reason = ("its ingest message is no longer in the queue" if status == "queued"
                  else "its reader stopped part-way; the next one resumes after the items "
                       "written")
        actions.append(Action(batch_id, "", "ingest", "reingest", "message_lost", reason))
    return actions


def reconcile_once(services: Services, dispatcher: Dispatcher) -> list[Action]:
    """One pass: find stalled stages and unread batches, send them again or fail their
    jobs."""
    now = utcnow()
    actions = with_database(services, lambda s: plan_actions(s, services, now)
                            + plan_reingests(s, services, now), retry_seconds=0)
    for action in actions:
        if action.kind == "reingest":
            dispatcher.ingest(action.job_id)
            log.warning("re-sent the ingest of batch %s (%s)", action.job_id, action.reason)
            continue
        if action.kind == "fail":
            with_database(services, lambda s, a=action: jobs.mark_stage_failed(
                s, a.job_id, a.stage, a.code, a.reason), retry_seconds=0)
            services.locks.release(action.project_id, action.job_id)
            log.warning("job %s failed in %s: %s", action.job_id, action.stage, action.reason)
            continue
        with_database(services, lambda s, a=action: jobs.mark_dispatched(s, a.job_id, a.stage),
                      retry_seconds=0)
        dispatcher.dispatch(action.job_id, action.stage)
        log.warning("re-dispatched %s of job %s (%s)", action.stage, action.job_id,
                    action.reason)
    try:
        advance_due(services)  # posts waiting for a rate limit, a poll or a dead worker
        deliver(services)  # webhook deliveries whose retry time has come
    except Exception as exc:  # noqa: BLE001 - the next pass tries again
        log.warning("publications or webhook deliveries not advanced: %s", exc)
    return actions


# Take the key if it is free, or extend it if we hold it, in one step: between a separate
# check and extension the key could expire and pass to another reconciler, whose lease we
# would then extend while both believed they lead.
_HOLD = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('pexpire', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


class Leadership:
    """Only one reconciler of a fleet acts at a time: a Redis key with a short expiry."""

    def __init__(self, redis: Any, prefix: str, ttl: float) -> None:
        self.key = f"{prefix}:reconciler"
        self.token = secrets.token_hex(8)
        self.ttl_ms = int(ttl * 1000)
        self._hold = redis.register_script(_HOLD)

    def hold(self) -> bool:
        """Become or stay the leader; False while another reconciler leads."""
        return bool(self._hold(keys=[self.key], args=[self.token, self.ttl_ms]))


def run_reconciler(services: Services, dispatcher: Dispatcher,
                   stop: threading.Event | None = None) -> None:
    """Reconcile every RECONCILE_INTERVAL seconds until `stop` is set."""
    stop = stop or threading.Event()
    interval = services.settings.reconcile_interval
    leadership = (Leadership(services.redis, services.settings.redis_key_prefix, interval * 3)
                  if services.redis is not None else None)
    log.info("reconciler running every %.0f s", interval)
    # While the database was away no heartbeat could be written, so every running stage looks
    # silent when it returns: wait one lease period for the live ones to check in again.
    calm_until = 0.0
    while not stop.is_set():
        try:
            if leadership is None or leadership.hold():
                with_database(services, lambda s: s.execute(text("SELECT 1")), retry_seconds=0)
                if time.monotonic() >= calm_until:
                    reconcile_once(services, dispatcher)
        except DatabaseUnavailable as exc:
            calm_until = time.monotonic() + services.settings.stage_lease_seconds + interval
            log.warning("reconcile pass skipped, database unreachable: %s", exc)
        except Exception as exc:  # noqa: BLE001 - try again next pass (Redis away)
            log.warning("reconcile pass failed: %s", exc)
        stop.wait(interval)
