"""Finished jobs posted through a fake Postiz (real HTTP, Postiz's own rules): one post per
channel with the profile's settings, exactly once across crashes at every step, spread by
the organisation's shared hourly limit, polled until published, and refused by the checks
before any upload."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pipeline.publish import postiz as postiz_module
from store.models import Job, Profile, Publication, utcnow
from store.secrets import SecretBox
from store.services import Services
from store.settings import Settings
from tests.support.jobs import migrated_services, queued_idea_job
from tests.support.postiz_server import PostizServer, postiz_server
from worker import postiz_delivery
from worker.postiz_delivery import advance, advance_due, advance_job, publication_key
from worker.runner import run_job

KEY = "a-long-secret-key-for-the-postiz-tests-0123456789"
POSTIZ_KEY = "postiz-test-key"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    settings = Settings.from_env({"DATA_DIR": str(tmp_path / "data"), "SECRET_KEY": KEY,
                                  "FETCH_ALLOW_HOSTS": "127.0.0.1"})
    with migrated_services(settings) as svc:
        yield svc


@pytest.fixture
def postiz() -> Iterator[PostizServer]:
    with postiz_server(POSTIZ_KEY) as server:
        yield server


def _job(services: Services, postiz: PostizServer, **postiz_settings: Any) -> str:
    """A draft-quality idea job whose profile posts to Postiz."""
    job_id = queued_idea_job(services, "Why kites fly")
    with services.sessions() as session:
        job = session.get(Job, job_id)
        job.options = {**job.options, "quality": "draft", "visuals": "generated",
                       "hashtags": ["kites"],
                       "publish": {"postiz": {"base_url": postiz.base_url,
                                              "integrations": {"tiktok": "int-tiktok"},
                                              **postiz_settings}},
                       "secrets": {"postiz_api_key": SecretBox(KEY).seal(POSTIZ_KEY)}}
        session.commit()
    return job_id


def _publication(services: Services, key: str) -> Publication:
    with services.sessions() as session:
        row = session.scalar(select(Publication).where(Publication.idempotency_key == key))
        assert row is not None
        session.expunge(row)
        return row


def _posts(postiz: PostizServer) -> list[Any]:
    return [seen.json for seen in postiz.seen("POST", "/posts")]


def test_a_finished_job_is_posted_once_and_followed_to_published(
        services: Services, postiz: PostizServer) -> None:
    job_id = _job(services, postiz, integrations={"tiktok": "int-tiktok",
                                                  "youtube": "int-youtube"},
                  tiktok={"privacy_level": "SELF_ONLY", "comment": False},
                  youtube={"title_template": "{title} #shorts", "visibility": "unlisted"})
    assert run_job(services, job_id)
    uploads = postiz.seen("POST", "/upload")
    assert len(uploads) == 2 and all(u.upload and u.upload.field == "file" for u in uploads)
    assert all(u.headers["authorization"] == POSTIZ_KEY for u in postiz.requests)
    bodies = {body["posts"][0]["integration"]["id"]: body for body in _posts(postiz)}
    assert set(bodies) == {"int-tiktok", "int-youtube"}
    tiktok = bodies["int-tiktok"]
    assert tiktok["type"] == "now" and tiktok["shortLink"] is False
    assert tiktok["posts"][0]["settings"]["privacy_level"] == "SELF_ONLY"
    assert tiktok["posts"][0]["settings"]["comment"] is False
    content = tiktok["posts"][0]["value"][0]["content"]
    assert "Why kites fly" in content and "#kites" in content
    youtube = bodies["int-youtube"]["posts"][0]["settings"]
    assert youtube["title"] == "Why kites fly #shorts" and youtube["type"] == "unlisted"
    row = _publication(services, publication_key(job_id, "tiktok"))
    assert row.state == "queued" and row.post_id

    postiz.publish(row.post_id, "https://www.tiktok.com/@kites/video/1")
    with services.sessions() as session:  # the first poll is due
        stored = session.scalar(select(Publication).where(Publication.id == row.id))
        stored.details = {**stored.details, "next_at": utcnow().isoformat()}
        session.commit()
    advance_due(services)
    row = _publication(services, publication_key(job_id, "tiktok"))
    assert (row.state, row.url) == ("published", "https://www.tiktok.com/@kites/video/1")
    advance_job(services, job_id)  # again: nothing is sent twice
    assert len(_posts(postiz)) == 2 and len(postiz.seen("POST", "/upload")) == 2


class Killed(BaseException):
    """What kill -9 looks like from inside: nothing after it runs."""


def _made_without_posting(services: Services, job_id: str,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The job's stages run; its posts are left to the test."""
    with monkeypatch.context() as patched:
        patched.setattr("worker.destinations.advance_job", lambda *args: None)
        assert run_job(services, job_id)


@pytest.mark.parametrize("crash", ["before_the_post", "after_postiz_stored_it",
                                   "after_the_upload"])
def test_a_crash_at_any_step_never_posts_twice(services: Services, postiz: PostizServer,
                                               monkeypatch: pytest.MonkeyPatch,
                                               crash: str) -> None:
    """The worker dies after the upload, just before the post, or after Postiz stored the
    post but before we heard: the next run ends with exactly one upload and one post."""
    job_id = _job(services, postiz)
    _made_without_posting(services, job_id, monkeypatch)
    key = publication_key(job_id, "tiktok")
    with monkeypatch.context() as patched:
        if crash == "after_postiz_stored_it":
            postiz.crash_after_store = 1  # Postiz keeps the post; the answer never arrives
        elif crash == "before_the_post":
            def killed(*args: Any) -> None:
                raise Killed
            patched.setattr(postiz_module.PostizClient, "create_post", killed)
        else:
            def killed_after_upload(self: Any, *args: Any) -> float:
                raise Killed
            patched.setattr(postiz_delivery._Delivery, "_rate_limit", killed_after_upload)
        try:
            advance_job(services, job_id)
        except Killed:
            pass
    first = _publication(services, key)
    assert first.state in ("uploaded", "posting"), first.state
    assert len(postiz.posts) == (1 if crash == "after_postiz_stored_it" else 0)
    with services.sessions() as session:  # whatever wait the failure set is over
        row = session.scalar(select(Publication).where(Publication.idempotency_key == key))
        row.details = {**row.details, "next_at": None}
        session.commit()
    advance(services, key)
    assert len(postiz.posts) == 1 and len(postiz.seen("POST", "/upload")) == 1
    row = _publication(services, key)
    assert row.state == "queued" and row.post_id == postiz.posts[0].id


def test_the_organisations_hourly_limit_is_shared_and_the_rest_waits(
        services: Services, postiz: PostizServer, monkeypatch: pytest.MonkeyPatch,
        redis_url: str) -> None:
    """Two workers publishing 10 videos against 4 posts an hour, sharing the bucket in Redis
    as every worker of a fleet does: 4 posts go out, the other 6 wait with the time the
    bucket names."""
    import redis

    from store.rate_limit import RedisTokenBucket

    services.rate_limits = RedisTokenBucket(redis.Redis.from_url(redis_url), "vf-test-pz")
    postiz.per_hour = 4
    job_ids = [_job(services, postiz, per_hour=4) for _ in range(10)]
    _made_without_posting(services, job_ids[0], monkeypatch)
    with services.sessions() as session:  # the others share the first one's video
        artifacts = session.get(Job, job_ids[0]).artifacts
        for job_id in job_ids[1:]:
            job = session.get(Job, job_id)
            job.artifacts, job.status = dict(artifacts), "succeeded"
        session.commit()
    start = threading.Barrier(2)

    def worker(ids: list[str]) -> None:
        start.wait()
        for job_id in ids:
            advance_job(services, job_id)

    threads = [threading.Thread(target=worker, args=(job_ids[0::2],)),
               threading.Thread(target=worker, args=(job_ids[1::2],))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(_posts(postiz)) == 4
    states = [_publication(services, publication_key(j, "tiktok")) for j in job_ids]
    waiting = [row for row in states if row.state == "uploaded"]
    assert len(waiting) == 6
    assert all(row.details["next_at"] > (utcnow() + timedelta(minutes=5)).isoformat()
               for row in waiting)


def test_the_checks_refuse_before_any_upload(services: Services,
                                             postiz: PostizServer) -> None:
    job_id = _job(services, postiz, caption_template="{caption} " + "x" * 2300)
    assert run_job(services, job_id)
    row = _publication(services, publication_key(job_id, "tiktok"))
    assert row.state == "rejected" and "caption" in (row.error or "")
    assert postiz.seen("POST", "/upload") == [] and _posts(postiz) == []


def test_scheduled_posts_fall_inside_the_windows(services: Services,
                                                 postiz: PostizServer) -> None:
    job_id = _job(services, postiz, type="schedule", timezone="Europe/Berlin", daily_limit=2,
                  windows=[{"days": "mon-sun", "from": "09:00", "to": "10:00"}])
    assert run_job(services, job_id)
    [body] = _posts(postiz)
    assert body["type"] == "schedule"
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = datetime.fromisoformat(body["date"].replace("Z", "+00:00")).astimezone(
        ZoneInfo("Europe/Berlin"))
    assert 9 <= local.hour < 10 or (local.hour == 10 and local.minute == 0)
    assert json.dumps(body).count("int-tiktok") == 1
    with services.sessions() as session:
        assert session.get(Profile, session.get(Job, job_id).profile_id) is not None
    assert postiz_delivery.DEFAULT_PER_HOUR == 90
