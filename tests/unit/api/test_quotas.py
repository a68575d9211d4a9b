"""Per-account quotas: the longest video (422), items per batch (422), jobs running at once
(429 with Retry-After), from the QUOTA_* settings or the account's own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask.testing import FlaskClient

from api.app import create_app
from store.db import session_scope
from store.models import Account, Batch, Job
from store.quotas import account_quotas, set_account_quotas
from store.services import Services
from store.settings import Settings
from tests.support.jobs import migrated_services
from tests.unit.api.conftest import Api, RecordingDispatcher, new_account

IDEA = {"source": {"type": "idea", "idea": "Why kites fly"}}


def _set(services: Services, account_id: str, **changes: int | None) -> None:
    with session_scope(services.sessions) as session:
        account = session.get(Account, account_id)
        assert account is not None
        set_account_quotas(account, changes)


def _script(words: int) -> dict[str, Any]:
    narration = " ".join(["kites"] * words)
    return {"source": {"type": "script", "scenes": [{"narration": narration}]}}


def _finish(services: Services, job_id: str) -> None:
    with session_scope(services.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.status = "succeeded"


def test_defaults_come_from_the_settings_and_the_account_overrides_them(
        services: Services, api: Api) -> None:
    with services.sessions() as session:
        account = session.get(Account, api.account.account_id)
        assert vars(account_quotas(account, services.settings)) == {
            "video_seconds": 600, "batch_items": 10000, "running_jobs": 200}
        set_account_quotas(account, {"video_seconds": 90, "running_jobs": 0})
        assert vars(account_quotas(account, services.settings)) == {
            "video_seconds": 90, "batch_items": 10000, "running_jobs": 0}
        set_account_quotas(account, {"video_seconds": None})
        assert account_quotas(account, services.settings).video_seconds == 600
        with pytest.raises(ValueError, match="unknown quota"):
            set_account_quotas(account, {"minutes": 3})
        with pytest.raises(ValueError, match="0 \\(no limit\\) or more"):
            set_account_quotas(account, {"running_jobs": -1})


def test_a_script_longer_than_the_quota_is_422_naming_the_limit(services: Services,
                                                                api: Api) -> None:
    _set(services, api.account.account_id, video_seconds=30)
    refused = api.create_job(_script(150))  # 60 s at our voices' pace
    assert refused.status_code == 422
    error = refused.json["error"]
    assert (error["code"], error["field"]) == ("quota_exceeded", "source")
    assert "at most 30 s" in error["message"] and "video_seconds" in error["message"]
    assert api.create_job(_script(40)).status_code == 202
    with services.sessions() as session:
        assert session.query(Job).count() == 1


def test_a_written_script_is_measured_against_a_short_quota(services: Services,
                                                             api: Api) -> None:
    """An idea's script is written for the preset's target (about 30 s): a 20 s quota
    refuses it before any work is done."""
    _set(services, api.account.account_id, video_seconds=20)
    refused = api.create_job(IDEA)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "quota_exceeded"
    _set(services, api.account.account_id, video_seconds=0)  # no limit
    assert api.create_job(IDEA).status_code == 202


def test_running_jobs_past_the_quota_are_429_until_one_finishes(services: Services,
                                                                api: Api) -> None:
    _set(services, api.account.account_id, running_jobs=2)
    accepted = [api.create_job(IDEA) for _ in range(2)]
    assert [a.status_code for a in accepted] == [202, 202]
    refused = api.create_job(IDEA)
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "quota_exceeded"
    assert refused.json["error"]["field"] == "running_jobs"
    assert "2 jobs queued or running" in refused.json["error"]["message"]
    assert int(refused.headers["Retry-After"]) > 0
    _finish(services, accepted[0].json["id"])
    assert api.create_job(IDEA).status_code == 202
    # A retry counts too.
    canceled = api.client.delete(f"/v1/jobs/{accepted[1].json['id']}", headers=api.headers)
    assert canceled.status_code == 202
    assert api.create_job(IDEA).status_code == 202
    retried = api.client.post(f"/v1/jobs/{accepted[1].json['id']}/retry", headers=api.headers)
    assert retried.status_code == 429 and retried.json["error"]["code"] == "quota_exceeded"


def test_another_accounts_quota_is_its_own(services: Services, api: Api,
                                           client: FlaskClient) -> None:
    _set(services, api.account.account_id, running_jobs=1)
    assert api.create_job(IDEA).status_code == 202
    assert api.create_job(IDEA).status_code == 429
    other = Api(client, new_account(services, "other"))
    assert other.create_job(IDEA).status_code == 202


def test_batch_limits_and_collections_past_the_quota_are_422(services: Services,
                                                             api: Api) -> None:
    _set(services, api.account.account_id, batch_items=2)
    feed = {"source": {"type": "feed", "url": "https://shop.example/feed.xml"}}
    refused = api.client.post("/v1/batches", json={**feed, "limit": 3}, headers=api.headers)
    assert refused.status_code == 422
    assert (refused.json["error"]["code"], refused.json["error"]["field"]) == (
        "quota_exceeded", "limit")
    items = [{"title": f"Kite {n}", "description": "A kite", "price": "$10"} for n in range(3)]
    collection = api.client.post("/v1/batches", headers=api.headers, json={
        "source": {"type": "collection", "mode": "each", "items": items}})
    assert collection.status_code == 422
    assert collection.json["error"]["field"] == "source.items"
    with services.sessions() as session:
        assert session.query(Batch).count() == 0


def test_a_feed_without_a_limit_makes_at_most_the_quota(services: Services, api: Api,
                                                        dispatcher: RecordingDispatcher) -> None:
    dispatcher.ingest = lambda batch_id: None  # type: ignore[attr-defined]
    _set(services, api.account.account_id, batch_items=25)
    answer = api.client.post("/v1/batches", headers=api.headers,
                             json={"source": {"type": "feed", "url": "https://shop.example/f"}})
    assert answer.status_code == 202, answer.json
    with services.sessions() as session:
        batch = session.get(Batch, answer.json["id"])
        assert batch is not None and batch.options["limit"] == 25


@pytest.fixture
def postgres_services(distributed_settings: Settings) -> Iterator[Services]:
    with migrated_services(replace(distributed_settings, rate_limit_jobs_per_minute=1000)) as svc:
        yield svc


def test_requests_at_once_cannot_pass_the_running_jobs_quota(
        postgres_services: Services) -> None:
    """Eight requests released together by a barrier, with room for three: exactly three
    jobs are written, the others are told 429."""
    app = create_app(services=postgres_services, dispatcher=RecordingDispatcher())
    account = new_account(postgres_services, "racer")
    _set(postgres_services, account.account_id, running_jobs=3)
    headers = {"Authorization": f"Bearer {account.api_key}"}
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def submit() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post("/v1/jobs", json=IDEA, headers=headers).status_code)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [202] * 3 + [429] * 5
    with postgres_services.sessions() as session:
        assert session.query(Job).filter(Job.account_id == account.account_id).count() == 3
