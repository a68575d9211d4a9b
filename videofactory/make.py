"""`videofactory make`: one job through the in-process runner, with progress on the terminal."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from pipeline.render.compositor import render_timeline
from pipeline.sequence import STAGE_NAMES
from pipeline.types import no_progress
from store import jobs as job_store
from store import review as job_review
from store.accounts import create_account, default_profile
from store.db import session_scope
from store.media import artifact_key
from store.migrate import upgrade
from store.models import Account, Job
from store.services import Services, build_services
from store.settings import Settings
from worker.execution import release_project_lock
from worker.routing import STAGE_QUEUES
from worker.runner import run_job
from worker.stages import JobInput, StageContext, job_timeline, render_options

LOCAL_ACCOUNT = "local"


class _StageDisplay:
    """A bar per stage on a terminal; a line per finished stage anywhere else (logs, CI)."""

    def __init__(self, console: Console, stages: Sequence[str] = STAGE_NAMES) -> None:
        self.console = console
        self.stages = stages
        self.live = console.is_terminal
        self.progress = Progress(TextColumn("{task.description:>9}"), BarColumn(),
                                 TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                                 console=console, disable=not self.live)
        self.tasks: dict[str, TaskID] = {}
        self.started: dict[str, float] = {}
        self.current: str | None = None

    def __enter__(self) -> _StageDisplay:
        self.progress.__enter__()
        for stage in self.stages:
            self.tasks[stage] = self.progress.add_task(stage, total=100, start=False)
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def update(self, stage: str, fraction: float) -> None:
        if stage not in self.tasks:
            return
        if stage != self.current:
            if self.current is not None:
                self._finish(self.current)
            self.current = stage
            self.started[stage] = time.monotonic()
            self.progress.start_task(self.tasks[stage])
            if not self.live:
                self.console.print(f"{stage:>9}  started")
        self.progress.update(self.tasks[stage], completed=fraction * 100)

    def _finish(self, stage: str) -> None:
        self.progress.update(self.tasks[stage], completed=100)
        if not self.live:
            elapsed = time.monotonic() - self.started[stage]
            self.console.print(f"{stage:>9}  done in {elapsed:.1f} s")

    def close(self, succeeded: bool) -> None:
        if self.current is not None and succeeded:
            self._finish(self.current)


def local_account_ids(session: object) -> tuple[str, str]:
    """The local account and its default profile, made on first use."""
    account = session.scalar(select(Account).where(Account.name == LOCAL_ACCOUNT)  # type: ignore[attr-defined]
                             .order_by(Account.created_at).limit(1))
    if account is None:
        created = create_account(session, LOCAL_ACCOUNT)  # type: ignore[arg-type]
        return created.account_id, created.profile_id
    profile = default_profile(session, account.id)  # type: ignore[arg-type]
    assert profile is not None
    return account.id, profile.id


# Shows a job's script to a person and lets them edit it; True when they approve it.
ScriptReview = Callable[[Services, str], bool]


def make_video(settings: Settings, idea: str, preset: str, output: Path | None,
               review: ScriptReview | None = None, points: Sequence[str] = ()) -> Path | None:
    """Run one idea (with the points it should make) through every stage here; return the
    MP4's path, or None on failure.

    With `review`, the job stops after its script and goes on only once `review` approves
    it; a refused script cancels the job (None).
    """
    console = Console(stderr=True, soft_wrap=True)
    upgrade(settings.database_url)
    services = build_services(settings)
    try:
        with session_scope(services.sessions) as session:
            account_id, profile_id = local_account_ids(session)
            project = job_store.create_project(session, profile_id, idea[:80])
            job = job_store.create_job(session, account_id=account_id, profile_id=profile_id,
                                       project_id=project.id,
                                       source={"type": "idea", "idea": idea,
                                               **({"points": list(points)} if points else {})},
                                       preset=preset,
                                       queues=STAGE_QUEUES, options={"review": bool(review)})
            job_id, project_id = job.id, project.id
        services.locks.acquire(project_id, job_id, settings.project_lock_ttl)
        console.print(f"job {job_id}: {preset}, idea {escape(repr(idea))}")
        status = _run_stages(services, console, job_id, STAGE_NAMES)
        while status == job_store.AWAITING_REVIEW and review is not None:
            if not review(services, job_id):
                _cancel(services, job_id)
                console.print(f"[red]canceled[/red] job {job_id}: the script was not approved, "
                              "so no video was made")
                return None
            _approve(services, job_id)
            status = _run_stages(services, console, job_id, STAGE_NAMES[1:])
        succeeded = status == "succeeded"
        with session_scope(services.sessions) as session:
            job = session.get(Job, job_id)
            assert job is not None
            if not succeeded:
                console.print(f"[red]failed[/red] {escape(job_store.failure_text(job))}")
                return None
            video = services.media.fetch(job.artifacts["video"])
            publication = job.artifacts.get("publication")
        target = output or Path.cwd() / f"{job_id}.mp4"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(video, target)
        if publication:
            exported = json.loads(services.media.read_bytes(publication))["location"]
            console.print(f"exported to {escape(_where(services, exported))}")
        return target.resolve()
    finally:
        services.close()
        sys.stderr.flush()


def _run_stages(services: Services, console: Console, job_id: str,
                stages: Sequence[str]) -> str:
    """Run the job here, showing `stages`; the job's status afterwards."""
    with _StageDisplay(console, stages) as display:
        run_job(services, job_id, worker="local", on_update=display.update)
        with session_scope(services.sessions) as session:
            job = session.get(Job, job_id)
            assert job is not None
            status = job.status
        display.close(status in ("succeeded", job_store.AWAITING_REVIEW))
    return status


def _approve(services: Services, job_id: str) -> None:
    """Queue the approved job from the voice stage, its project locked again, as the API does."""
    with session_scope(services.sessions) as session:
        project_id = job_review.approve(session, job_id).project_id
    services.locks.acquire(project_id, job_id, services.settings.project_lock_ttl)


def _cancel(services: Services, job_id: str) -> None:
    with session_scope(services.sessions) as session:
        project_id = job_store.cancel_job(session, job_id).project_id
    release_project_lock(services, job_id, project_id)


def _where(services: Services, location: str) -> str:
    """A publication's location as a person finds it (export keys live in media storage)."""
    return location if Path(location).is_absolute() else services.media.describe(location)


def preview_job(settings: Settings, job_id: str, output: Path | None) -> Path | None:
    """Render a draft of a job whose voice and captions exist; None (and a message) if not."""
    console = Console(stderr=True, soft_wrap=True)
    services = build_services(settings)
    try:
        with session_scope(services.sessions) as session:
            job = session.get(Job, job_id)
            if job is None:
                console.print(f"[red]no job {job_id}[/red]")
                return None
            snapshot = JobInput(job.id, job.preset, dict(job.source), dict(job.options or {}),
                                dict(job.artifacts or {}))
        missing = [k for k in ("script", "voice_wav", "voiceover", "captions_ass")
                   if k not in snapshot.artifacts]
        if missing:
            console.print(f"[red]job {job_id} has no {', '.join(missing)} yet[/red]: a preview "
                          "needs the script, voice and captions stages done")
            return None
        scratch = services.media.scratch_dir(job_id, "preview")
        try:
            context = StageContext(settings, services.media, scratch, no_progress)
            local = scratch / "preview.mp4"
            started = time.monotonic()
            render_timeline(job_timeline(context, snapshot), scratch / "work", local,
                            options=render_options(settings, "draft"))
            key = services.media.put_file(artifact_key(job_id, "preview", "preview.mp4"), local)
            target = output or Path.cwd() / f"{job_id}-preview.mp4"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(services.media.fetch(key), target)
            console.print(f"preview rendered in {time.monotonic() - started:.1f} s")
            return target.resolve()
        finally:
            services.media.discard_scratch(scratch)
    finally:
        services.close()
