"""Services on a migrated embedded database, queued jobs in it, and a real script stage
run on one, for store- and worker-level tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from store import jobs as job_store
from store.accounts import create_account
from store.db import session_scope
from store.migrate import upgrade
from store.services import Services, build_services
from store.settings import Settings
from worker.execution import StageFailed, execute_stage
from worker.routing import STAGE_QUEUES


@contextmanager
def migrated_services(settings: Settings) -> Iterator[Services]:
    """Services on the settings' database, migrated to head; closed afterwards."""
    upgrade(settings.database_url)
    services = build_services(settings)
    try:
        yield services
    finally:
        services.close()


def queued_idea_job(services: Services, idea: str = "Why cold brew tastes smoother") -> str:
    """A new account, project and queued idea job (every stage pending); its id."""
    with session_scope(services.sessions) as session:
        account = create_account(session, "tests")
        project = job_store.create_project(session, account.profile_id, "p")
        job = job_store.create_job(session, account_id=account.account_id,
                                   profile_id=account.profile_id, project_id=project.id,
                                   source={"type": "idea", "idea": idea}, preset="tiktok",
                                   queues=STAGE_QUEUES)
        return job.id


def run_script_stage(services: Services, job_id: str) -> list[str]:
    """Run the job's real script stage here (which fetches its pictures); the media keys of
    the pictures it used, or [] when the stage failed (the failure is on the job)."""
    try:
        artifacts = execute_stage(services, "script", job_id, worker="test")
    except StageFailed:
        return []
    return [v["key"] for v in json.loads(services.media.read_bytes(artifacts["visuals"]))]
