"""GET /v1/health: database and broker reachability, 503 when either is down."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator

import pytest
from flask.testing import FlaskClient

from api.app import create_app
from store.migrate import upgrade
from store.services import Services, build_services
from store.settings import Settings
from tests.unit.api.conftest import RecordingDispatcher

# Nothing listens on port 1 of the loopback: connections are refused at once.
DEAD_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:1/x"
DEAD_REDIS = "redis://127.0.0.1:1/0"

MakeServices = Callable[[Settings], Services]


def _client(services: Services) -> FlaskClient:
    return create_app(services=services, dispatcher=RecordingDispatcher()).test_client()


@pytest.fixture
def make_services() -> Iterator[MakeServices]:
    """Build services from settings, closing each at the end of the test."""
    built: list[Services] = []

    def make(settings: Settings) -> Services:
        svc = build_services(settings)
        built.append(svc)
        return svc

    yield make
    for svc in built:
        svc.close()


def test_embedded_health_is_ok(client: FlaskClient) -> None:
    """Embedded mode with a migrated SQLite database is healthy, broker in-process."""
    response = client.get("/v1/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": {"ok": True},
                             "broker": {"ok": True, "mode": "in-process"}}


def test_health_needs_no_api_key(client: FlaskClient) -> None:
    """Health is open to load balancers: no Authorization header needed."""
    assert client.get("/v1/health").status_code == 200


def test_unreachable_database_is_503(embedded_settings: Settings,
                                     make_services: MakeServices) -> None:
    """A database that refuses connections makes health 503, naming the database, quickly."""
    settings = dataclasses.replace(embedded_settings, database_url=DEAD_POSTGRES)
    started = time.monotonic()
    response = _client(make_services(settings)).get("/v1/health")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    body = response.json
    assert body["status"] == "unavailable"
    assert body["database"]["ok"] is False
    assert body["database"]["error"]
    assert body["broker"] == {"ok": True, "mode": "in-process"}


def test_distributed_health_is_ok(distributed_settings: Settings,
                                  make_services: MakeServices) -> None:
    """Postgres and Redis both answering make health 200 with the redis broker."""
    response = _client(make_services(distributed_settings)).get("/v1/health")
    assert response.status_code == 200, response.json
    assert response.json["database"] == {"ok": True}
    assert response.json["broker"] == {"ok": True, "mode": "redis"}


def test_unreachable_broker_is_503(distributed_settings: Settings,
                                   make_services: MakeServices) -> None:
    """A Redis that refuses connections makes health 503 naming the broker, quickly."""
    settings = dataclasses.replace(distributed_settings, redis_url=DEAD_REDIS)
    started = time.monotonic()
    response = _client(make_services(settings)).get("/v1/health")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    body = response.json
    assert body["status"] == "unavailable"
    assert body["database"] == {"ok": True}
    assert body["broker"]["ok"] is False
    assert body["broker"]["mode"] == "redis"
    assert body["broker"]["error"]


def test_both_down_is_503_naming_both(distributed_settings: Settings,
                                      make_services: MakeServices) -> None:
    """With database and broker down, health reports both as not ok."""
    settings = dataclasses.replace(distributed_settings, database_url=DEAD_POSTGRES,
                                   redis_url=DEAD_REDIS)
    response = _client(make_services(settings)).get("/v1/health")
    assert response.status_code == 503
    assert response.json["database"]["ok"] is False
    assert response.json["broker"]["ok"] is False


def test_unmigrated_sqlite_still_answers(embedded_settings: Settings,
                                         make_services: MakeServices) -> None:
    """Health pings the database only; a fresh SQLite file is reachable even before migrations."""
    response = _client(make_services(embedded_settings)).get("/v1/health")
    assert response.status_code == 200
    upgrade(embedded_settings.database_url)  # and migrating afterwards still works
