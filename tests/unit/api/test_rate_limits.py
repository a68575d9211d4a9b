"""Per-key rate limits on POST /v1/jobs, /v1/batches and /v1/uploads: 429 rate_limited with
Retry-After, one bucket per key, shared by API processes through Redis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis
from flask.testing import FlaskClient

from api.app import create_app
from store.accounts import create_key
from store.db import session_scope
from store.rate_limit import RedisTokenBucket
from store.services import Services
from store.settings import Settings
from tests.support.jobs import migrated_services
from tests.unit.api.conftest import RecordingDispatcher, new_account

IDEA = {"source": {"type": "idea", "idea": "Why kites fly"}}


@pytest.fixture
def services(embedded_settings: Settings) -> Iterator[Services]:
    settings = replace(embedded_settings, rate_limit_jobs_per_minute=2,
                       rate_limit_uploads_per_minute=1)
    with migrated_services(settings) as svc:
        yield svc


def _client(services: Services) -> FlaskClient:
    return create_app(services=services, dispatcher=RecordingDispatcher()).test_client()


def test_a_key_past_its_limit_gets_429_with_retry_after(services: Services,
                                                        small_mp4: object) -> None:
    client = _client(services)
    account = new_account(services)
    headers = {"Authorization": f"Bearer {account.api_key}"}
    answers = [client.post("/v1/jobs", json=IDEA, headers=headers) for _ in range(2)]
    assert [a.status_code for a in answers] == [202, 202]
    limited = client.post("/v1/batches", headers=headers,
                          json={"source": {"type": "feed", "url": "https://shop.example/f"}})
    assert limited.status_code == 429
    assert limited.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Another key of the same account has its own bucket.
    with session_scope(services.sessions) as session:
        other = create_key(session, account.account_id, "second").api_key
    assert client.post("/v1/jobs", json=IDEA,
                       headers={"Authorization": f"Bearer {other}"}).status_code == 202
    upload = client.post("/v1/uploads", data=b"not a picture", headers=headers)
    assert upload.status_code == 422  # the first upload is checked as usual
    again = client.post("/v1/uploads", data=b"not a picture", headers=headers)
    assert again.status_code == 429 and "Retry-After" in again.headers


def test_two_api_processes_share_a_keys_bucket_through_redis(services: Services,
                                                             redis_url: str) -> None:
    """Two apps, each with its own client on the same Redis, as two API processes are."""
    first = _client(replace(services, rate_limits=RedisTokenBucket(
        redis.Redis.from_url(redis_url), "vf-test-api")))
    second = _client(replace(services, rate_limits=RedisTokenBucket(
        redis.Redis.from_url(redis_url), "vf-test-api")))
    account = new_account(services)
    headers = {"Authorization": f"Bearer {account.api_key}"}
    assert first.post("/v1/jobs", json=IDEA, headers=headers).status_code == 202
    assert second.post("/v1/jobs", json=IDEA, headers=headers).status_code == 202
    assert first.post("/v1/jobs", json=IDEA, headers=headers).status_code == 429
    assert second.post("/v1/jobs", json=IDEA, headers=headers).status_code == 429
