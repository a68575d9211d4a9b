"""A publish stage retried after a crash does not publish twice (idempotency key)."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.publish.export import ExportFolderPublisher
from store import jobs as job_store
from store.accounts import create_account
from store.db import session_scope
from store.migrate import upgrade
from store.models import Job, Publication
from store.services import build_services
from store.settings import Settings
from worker.execution import DatabaseLedger, execute_stage
from worker.routing import STAGE_QUEUES
from worker.stages import JobInput, StageContext, outputs_of, run_publish


def test_a_retried_publish_finds_the_first_publication(embedded_settings: Settings,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The second run of publish (as after a crash) delivers nothing and records nothing new."""
    settings = replace(embedded_settings, export_dir=tmp_path / "exports")
    upgrade(settings.database_url)
    services = build_services(settings)
    try:
        with session_scope(services.sessions) as session:
            account = create_account(session, "pub")
            project = job_store.create_project(session, account.profile_id, "p")
            job_id = job_store.create_job(
                session, account_id=account.account_id, profile_id=account.profile_id,
                project_id=project.id, source={"type": "idea", "idea": "Cold brew"},
                preset="tiktok", queues=STAGE_QUEUES).id
        for stage in ("script", "voice", "captions"):
            execute_stage(services, stage, job_id, worker="w")
        video = tmp_path / "v.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:d=1",
                        str(video)], check=True, timeout=60)
        services.media.put_file(outputs_of("render", job_id)["video"], video)
        with session_scope(services.sessions) as session:
            job_store.mark_stage_running(session, job_id, "render", "w")
            job = job_store.mark_stage_succeeded(session, job_id, "render",
                                                 outputs_of("render", job_id))
            snapshot = JobInput(job_id, "tiktok", dict(job.source), {}, dict(job.artifacts))

        calls = []
        real = ExportFolderPublisher.publish

        def counting(self, *args, **kwargs):
            calls.append(args)
            return real(self, *args, **kwargs)

        monkeypatch.setattr(ExportFolderPublisher, "publish", counting)
        for attempt in range(2):
            scratch = services.media.scratch_dir(job_id, f"publish{attempt}")
            context = StageContext(settings, services.media, scratch, lambda f: None,
                                   DatabaseLedger(services, job_id))
            run_publish(context, snapshot)
        assert len(calls) == 1
        assert [p.name for p in (tmp_path / "exports").glob("*.mp4")] == [f"{job_id}.mp4"]
        with session_scope(services.sessions) as session:
            rows = session.scalars(select(Publication).where(Publication.job_id == job_id)).all()
            assert [(r.destination, r.idempotency_key) for r in rows] == [
                ("export_folder", f"{job_id}:export_folder")]
            assert session.get(Job, job_id).status == "running"
    finally:
        services.close()
