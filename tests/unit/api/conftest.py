"""The Flask app on embedded settings, with a dispatcher that records instead of running."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from store.accounts import NewAccount, create_account
from store.db import session_scope
from store.services import Services
from store.settings import Settings
from tests.support.jobs import migrated_services


@dataclass
class RecordingDispatcher:
    """Remembers dispatched job ids; these tests are about the API, not the stages."""

    dispatched: list[str] = field(default_factory=list)
    from_stages: list[str | None] = field(default_factory=list)
    fail_with: Exception | None = None

    def dispatch(self, job_id: str, from_stage: str | None = None) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.dispatched.append(job_id)
        self.from_stages.append(from_stage)


@pytest.fixture
def services(embedded_settings: Settings) -> Iterator[Services]:
    """Services on a migrated SQLite database."""
    with migrated_services(embedded_settings) as svc:
        yield svc


@pytest.fixture
def dispatcher() -> RecordingDispatcher:
    """The recording dispatcher the app sends jobs to."""
    return RecordingDispatcher()


@pytest.fixture
def app(services: Services, dispatcher: RecordingDispatcher) -> Flask:
    """The API app."""
    return create_app(services=services, dispatcher=dispatcher)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client without credentials."""
    return app.test_client()


def new_account(services: Services, name: str = "shop") -> NewAccount:
    """Create an account (and its default profile) directly in the database."""
    with session_scope(services.sessions) as session:
        return create_account(session, name)


class Api:
    """An authorised client with helpers for the repeated actions."""

    def __init__(self, client: FlaskClient, account: NewAccount) -> None:
        self.client = client
        self.account = account
        self.headers = {"Authorization": f"Bearer {account.api_key}"}

    def create_job(self, body: Any = None, **kwargs: Any) -> Any:
        if body is None:
            body = {"source": {"type": "idea", "idea": "Why cold brew tastes smoother"},
                    "preset": "tiktok"}
        return self.client.post("/v1/jobs", json=body, headers=self.headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers={**self.headers, **kwargs.pop("headers", {})},
                               **kwargs)


@pytest.fixture
def api(client: FlaskClient, services: Services) -> Api:
    """An authorised API client of a fresh account."""
    return Api(client, new_account(services))


@pytest.fixture(scope="module")
def small_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-second 64×64 H.264 MP4 made by ffmpeg."""
    out = tmp_path_factory.mktemp("video") / "out.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=30",
                    "-t", "1", "-pix_fmt", "yuv420p", str(out)], check=True, timeout=60)
    return out
