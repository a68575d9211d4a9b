"""`videofactory watch JOB`: follow one job's progress until it succeeds, fails or is canceled.

It reads what the API reads: the job and its stages from the database, the live progress from
Redis (or, in embedded mode, the durable progress row), so it works from any machine of the
fleet. Each finished stage gets a line with its time and worker; a terminal also gets a bar.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import SQLAlchemyError

from store import jobs as job_store
from store.db import session_scope
from store.models import Job
from store.services import Services

SUCCEEDED, FAILED, NOT_FOUND, STILL_RUNNING, CANCELED = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class StageView:
    """One stage as the watcher shows it."""

    name: str
    status: str
    seconds: float | None
    worker: str | None


@dataclass(frozen=True)
class JobView:
    """What one look at a job found."""

    status: str
    stage: str | None
    percent: int
    stages: tuple[StageView, ...]
    failure: str | None
    video: str | None  # where the video is: a file path or an s3:// URL


def look(services: Services, job_id: str) -> JobView | None:
    """The job as it is now, or None when there is no such job."""
    with session_scope(services.sessions) as session:
        job = session.get(Job, job_id)
        if job is None:
            return None
        stages = tuple(
            StageView(row.name, row.status,
                      (row.finished_at - row.started_at).total_seconds()
                      if row.finished_at and row.started_at else None, row.worker)
            for row in job.stages)
        failure = None
        if job.status == "failed":
            failure = f"failed {job_store.failure_text(job)}"
        elif job.status == "canceled":
            failure = f"canceled in the {job.current_stage or 'queue'} stage"
        video_key = (job.artifacts or {}).get("video")
        video = (services.media.describe(video_key)
                 if job.status == "succeeded" and video_key else None)
        return JobView(job.status, job.current_stage,
                       job_store.job_percent(session, services.live, job), stages, failure, video)


def _stage_line(stage: StageView) -> str:
    took = f" in {stage.seconds:.1f} s" if stage.seconds is not None else ""
    where = f" on {stage.worker}" if stage.worker else ""
    word = "done" if stage.status == "succeeded" else stage.status
    return f"{stage.name:>9}  {word}{took}{where}"


def watch_job(services: Services, job_id: str, *, interval: float = 1.0,
              timeout: float | None = None, console: Console | None = None) -> int:
    """Print the job's progress until it ends; the exit code says how it ended."""
    console = console or Console(stderr=True, soft_wrap=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    shown: set[str] = set()
    bar = Progress(TextColumn("{task.description:>9}"), BarColumn(),
                   TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                   console=console, disable=not console.is_terminal)
    # Messages carry text from elsewhere (ffmpeg's "[mjpeg @ 0x…]", ideas): never markup.
    say = functools.partial(console.print, markup=False)
    with bar:
        task = bar.add_task("", total=100)
        while True:
            try:
                view = look(services, job_id)
            except SQLAlchemyError as exc:
                say(f"cannot read jobs from the database: {exc.__class__.__name__}: "
                    f"{exc.orig if hasattr(exc, 'orig') else exc}")
                return NOT_FOUND
            if view is None:
                say(f"no job {job_id} in this database (check DATABASE_URL)")
                return NOT_FOUND
            for stage in view.stages:
                if (stage.status in ("succeeded", "failed", "canceled")
                        and stage.name not in shown):
                    shown.add(stage.name)
                    say(_stage_line(stage))
            bar.update(task, description=view.stage or view.status, completed=view.percent)
            if view.status == "succeeded":
                say(f"succeeded: {view.video}")
                return SUCCEEDED
            if view.status == "failed":
                say(view.failure)
                return FAILED
            if view.status == "canceled":
                say(view.failure)
                return CANCELED
            if deadline is not None and time.monotonic() >= deadline:
                say(f"still {view.status} ({view.stage or 'waiting'}, "
                    f"{view.percent}%) after {timeout:g} s")
                return STILL_RUNNING
            time.sleep(interval)
