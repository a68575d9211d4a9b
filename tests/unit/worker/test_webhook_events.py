"""Webhook events of real jobs and batches: signed deliveries to a receiver that verifies
them, the delivery log, once per event however often it is raised, and retries when the
receiver fails."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from api.app import create_app
from store import jobs as job_store
from store.accounts import create_account
from store.db import session_scope
from store.models import Job, Profile, WebhookDelivery, utcnow
from store.secrets import SecretBox
from store.services import Services
from store.settings import Settings
from tests.support.jobs import migrated_services, queued_idea_job
from tests.unit.api.conftest import RecordingDispatcher
from tests.unit.publish.test_webhook import SECRET, Receiver, receiver  # noqa: F401
from worker.job_events import announce_job_end
from worker.routing import STAGE_QUEUES
from worker.runner import run_job
from worker.webhooks import deliver

KEY = "a-long-secret-key-for-the-webhook-tests-0123456789"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    settings = Settings.from_env({"DATA_DIR": str(tmp_path / "data"), "SECRET_KEY": KEY,
                                  "FETCH_ALLOW_HOSTS": "127.0.0.1"})
    with migrated_services(settings) as svc:
        yield svc


def _hook_up(services: Services, job_id: str, url: str, secret: str = SECRET) -> None:
    with services.sessions() as session:
        job = session.get(Job, job_id)
        profile = session.get(Profile, job.profile_id)
        profile.settings = {**(profile.settings or {}),
                            "publish": {"webhook": {"url": url}},
                            "secrets": {"webhook_secret": SecretBox(KEY).seal(secret)}}
        job.options = {**job.options, "quality": "draft", "visuals": "generated"}
        session.commit()


def _deliveries(services: Services) -> list[WebhookDelivery]:
    with services.sessions() as session:
        rows = list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)))
        for row in rows:
            session.expunge(row)
        return rows


def _job_with_key(services: Services) -> tuple[str, str]:
    """A queued idea job of a new account, and that account's API key."""
    with session_scope(services.sessions) as session:
        account = create_account(session, "hooks")
        project = job_store.create_project(session, account.profile_id, "p")
        job = job_store.create_job(session, account_id=account.account_id,
                                   profile_id=account.profile_id, project_id=project.id,
                                   source={"type": "idea", "idea": "Why kites fly"},
                                   preset="tiktok", queues=STAGE_QUEUES)
        return job.id, account.api_key


def test_a_finished_job_is_announced_once_signed(services: Services,
                                                receiver: Receiver) -> None:  # noqa: F811
    job_id, key = _job_with_key(services)
    _hook_up(services, job_id, receiver.url())
    assert run_job(services, job_id)
    [(path, headers, body)] = receiver.requests
    assert receiver.rejections == []  # the receiver verified the signature itself
    assert headers["X-Videofactory-Event"] == "job.succeeded"
    event = json.loads(body)
    assert event["type"] == "job.succeeded" and event["data"]["job_id"] == job_id
    assert event["data"]["video_url"] == f"/v1/jobs/{job_id}/video"
    announce_job_end(services, job_id)  # raised again (a retried stage): not sent again
    assert len(receiver.requests) == 1
    [row] = _deliveries(services)
    assert (row.status, row.attempts, row.last_status) == ("delivered", 1, 204)

    client = create_app(services=services, dispatcher=RecordingDispatcher()).test_client()
    listed = client.get("/v1/webhooks/deliveries",
                        headers={"Authorization": f"Bearer {key}"}).get_json()
    assert [(d["event"], d["status"], d["attempts"]) for d in listed["deliveries"]] == [
        ("job.succeeded", "delivered", 1)]


def test_a_failing_receiver_is_retried_later_and_a_dead_one_given_up(
        services: Services, receiver: Receiver) -> None:  # noqa: F811
    job_id = queued_idea_job(services, "Why kites fly")
    _hook_up(services, job_id, receiver.url())
    receiver.status = 500
    with services.sessions() as session:
        job = session.get(Job, job_id)
        job.status, job.error_stage, job.error_code, job.error_message = (
            "failed", "render", "bad_output", "the render missed the preset")
        session.commit()
    announce_job_end(services, job_id)
    [row] = _deliveries(services)
    assert (row.status, row.attempts, row.last_status) == ("pending", 1, 500)
    assert row.next_attempt_at is not None
    assert deliver(services) == 0  # not due yet
    with services.sessions() as session:
        session.get(WebhookDelivery, row.id).next_attempt_at = utcnow() - timedelta(seconds=1)
        session.commit()
    receiver.status = None
    assert deliver(services) == 1
    [row] = _deliveries(services)
    assert (row.status, row.attempts) == ("delivered", 2)
    assert json.loads(receiver.requests[-1][2])["data"]["error"]["code"] == "bad_output"
    # A receiver that answers 410 is not asked again.
    other = queued_idea_job(services, "Why leaves fall")
    _hook_up(services, other, receiver.url())
    receiver.status = 410
    with services.sessions() as session:
        session.get(Job, other).status = "succeeded"
        session.commit()
    announce_job_end(services, other)
    gone = next(r for r in _deliveries(services) if r.subject == other)
    assert (gone.status, gone.last_status) == ("failed", 410)


def test_a_webhook_at_a_private_address_is_refused(tmp_path: Path) -> None:
    settings = Settings.from_env({"DATA_DIR": str(tmp_path / "data"), "SECRET_KEY": KEY})
    with migrated_services(settings) as services:
        job_id = queued_idea_job(services, "Why kites fly")
        _hook_up(services, job_id, "http://10.0.0.7/hook")
        with services.sessions() as session:
            session.get(Job, job_id).status = "succeeded"
            session.commit()
        announce_job_end(services, job_id)
        [row] = _deliveries(services)
    assert row.status == "failed" and "private" in (row.last_error or "")
