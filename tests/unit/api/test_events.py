"""GET /v1/jobs/<id>/events and /v1/batches/<id>/events: Server-Sent Events pushing each
change of a job or batch, read by a real HTTP client from a real server while another thread
moves the job along."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from werkzeug.serving import make_server

from api.app import create_app
from store import batches as batch_store
from store.db import session_scope
from store.models import Job
from store.services import Services
from store.settings import Settings
from tests.support.jobs import migrated_services
from tests.unit.api.conftest import RecordingDispatcher, new_account

IDEA = {"source": {"type": "idea", "idea": "Why kites fly"}}


@pytest.fixture
def services(embedded_settings: Settings) -> Iterator[Services]:
    with migrated_services(replace(embedded_settings, events_stream_seconds=20)) as svc:
        yield svc


@pytest.fixture
def server(services: Services) -> Iterator[str]:
    app = create_app(services=services, dispatcher=RecordingDispatcher())
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join(timeout=10)


def _events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of an event stream, as a browser's EventSource reads them."""
    name, data = "message", []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def _set_status(services: Services, job_id: str, status: str, stage: str | None) -> None:
    with session_scope(services.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.status, job.current_stage = status, stage


def test_a_jobs_stream_sends_each_change_then_ends(services: Services, server: str) -> None:
    account = new_account(services)
    headers = {"Authorization": f"Bearer {account.api_key}"}
    job_id = httpx.post(f"{server}/v1/jobs", json=IDEA, headers=headers).json()["id"]
    steps = [("running", "script"), ("running", "voice"), ("succeeded", None)]
    started = threading.Event()

    def advance() -> None:
        started.wait(10)
        for status, stage in steps:
            time.sleep(0.8)
            _set_status(services, job_id, status, stage)

    mover = threading.Thread(target=advance)
    mover.start()
    seen: list[tuple[str, Any, Any]] = []
    with httpx.stream("GET", f"{server}/v1/jobs/{job_id}/events", headers=headers,
                      timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        for name, data in _events(response):
            started.set()
            seen.append((name, data.get("status"), data.get("stage")))
    mover.join()
    assert seen[0] == ("job", "queued", None)
    assert seen[-1] == ("end", "succeeded", None)
    # Every state the job went through arrived, in order, each once.
    assert [s for s in seen if s[0] == "job"][1:] == [("job", status, stage)
                                                      for status, stage in steps]


def test_the_first_event_is_the_whole_job_as_get_shows_it(services: Services,
                                                           server: str) -> None:
    account = new_account(services)
    headers = {"Authorization": f"Bearer {account.api_key}"}
    job_id = httpx.post(f"{server}/v1/jobs", json=IDEA, headers=headers).json()["id"]
    _set_status(services, job_id, "failed", None)
    with httpx.stream("GET", f"{server}/v1/jobs/{job_id}/events", headers=headers,
                      timeout=30) as response:
        events = list(_events(response))
    shown = httpx.get(f"{server}/v1/jobs/{job_id}", headers=headers).json()
    assert events[0] == ("job", shown)
    assert events[1:] == [("end", {"status": "failed"})]


def test_a_quiet_stream_closes_after_its_time_and_tells_the_browser_to_reconnect(
        services: Services, embedded_settings: Settings) -> None:
    with migrated_services(replace(embedded_settings, events_stream_seconds=1.5)) as svc:
        client = create_app(services=svc, dispatcher=RecordingDispatcher()).test_client()
        account = new_account(svc)
        headers = {"Authorization": f"Bearer {account.api_key}"}
        job_id = client.post("/v1/jobs", json=IDEA, headers=headers).get_json()["id"]
        started = time.monotonic()
        body = client.get(f"/v1/jobs/{job_id}/events", headers=headers).get_data(as_text=True)
        assert 1.4 < time.monotonic() - started < 10
    assert body.startswith("retry: 2000\n\n")
    assert body.count("event: job") == 1 and "event: end" not in body


def test_streams_of_other_accounts_and_unknown_ids_are_404(services: Services,
                                                           server: str) -> None:
    owner, other = new_account(services, "owner"), new_account(services, "other")
    job_id = httpx.post(f"{server}/v1/jobs", json=IDEA,
                        headers={"Authorization": f"Bearer {owner.api_key}"}).json()["id"]
    stranger = {"Authorization": f"Bearer {other.api_key}"}
    for path in (f"/v1/jobs/{job_id}/events", "/v1/jobs/job_nope/events",
                 "/v1/batches/bat_nope/events"):
        answer = httpx.get(f"{server}{path}", headers=stranger, timeout=10)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] in ("job_not_found", "batch_not_found")
    assert httpx.get(f"{server}/v1/jobs/{job_id}/events", timeout=10).status_code == 401


def test_a_batch_stream_follows_its_items(services: Services, server: str) -> None:
    account = new_account(services)
    headers = {"Authorization": f"Bearer {account.api_key}"}
    with session_scope(services.sessions) as session:
        batch_id = batch_store.create_batch(
            session, account_id=account.account_id, profile_id=account.profile_id,
            preset="tiktok", source={"type": "feed", "url": "https://shop.example/f"},
            options={}).id

    def fail_it() -> None:
        time.sleep(1.0)
        with session_scope(services.sessions) as session:
            batch_store.set_batch_state(session, batch_id, "failed",
                                        error=("feed_unreadable", "not a feed"))

    threading.Thread(target=fail_it).start()
    with httpx.stream("GET", f"{server}/v1/batches/{batch_id}/events", headers=headers,
                      timeout=30) as response:
        events = list(_events(response))
    assert [(name, data["status"]) for name, data in events] == [
        ("batch", "queued"), ("batch", "failed"), ("end", "failed")]
    assert events[1][1]["error"] == {"code": "feed_unreadable", "message": "not a feed"}
    assert events[1][1]["items"] == [] and "counts" in events[1][1]
