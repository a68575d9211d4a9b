"""The Celery app, built from Settings: queues, routing and settings for long media tasks."""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue

from store.settings import Settings, SettingsError
from worker.routing import QUEUES, ROUTES, longest_time_limit


def task_name(stage: str) -> str:
    """The stable Celery name of a stage's task."""
    return f"videofactory.{stage}"


def create_celery(settings: Settings) -> Celery:
    """A Celery app on the settings' Redis, with every stage task registered."""
    if settings.redis_url is None:
        raise ValueError("REDIS_URL is not set: the distributed mode needs a broker")
    longest = longest_time_limit(settings.time_limit_scale)
    if settings.broker_visibility_timeout <= longest:
        raise SettingsError(
            f"BROKER_VISIBILITY_TIMEOUT ({settings.broker_visibility_timeout} s) must exceed the "
            f"longest stage time limit ({longest:.0f} s at TIME_LIMIT_SCALE "
            f"{settings.time_limit_scale:g}), or a long render would be delivered twice")
    app = Celery("videofactory", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="cpu",
        task_routes={task_name(route.stage): {"queue": route.queue} for route in ROUTES},
        task_serializer="json",
        accept_content=["json"],
        # Postgres holds every job's state; Celery results would be a second, weaker copy.
        task_ignore_result=True,
        # Stages are idempotent, so a task is acknowledged only after it finished, and a
        # worker that dies mid-task leaves its message to be delivered again.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # A render takes minutes: a worker must not hoard messages other workers could run.
        worker_prefetch_multiplier=1,
        # Redis redelivers unacknowledged messages after this many seconds; it must exceed
        # the longest hard time limit or a long render would start twice.
        broker_transport_options={"visibility_timeout": settings.broker_visibility_timeout},
        broker_connection_retry_on_startup=True,
        worker_max_tasks_per_child=settings.worker_max_tasks_per_child,
        # Our logging configuration (JSON or text) stays in charge.
        worker_hijack_root_logger=False,
        # Events let Flower show tasks and workers. No "task-sent" event: it is a second
        # publish per message, which makes enqueueing a 10,000-item feed 45 % slower, and
        # Flower shows what waits in a queue from the broker anyway.
        worker_send_task_events=True,
        task_send_sent_event=False,
        # Redis is only transport: a render keeps going while the broker is away, and the
        # reconciler re-sends whatever messages the broker lost.
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    app.vf_settings = settings  # type: ignore[attr-defined]
    from worker.tasks import register_tasks

    register_tasks(app)
    return app


def celery_from_env() -> Any:
    """The app built from the process environment, for scripts and tests.

    Celery's own command line wants an app object, not a factory; Flower and the compose
    health checks therefore talk to the broker directly (`celery --broker ... flower`).
    """
    return create_celery(Settings.from_env())
