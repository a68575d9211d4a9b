"""Every answer that is not a success has the same JSON envelope, and never a traceback."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from api.app import create_app
from api.errors import ApiError, error_body
from store.db import DatabaseUnavailable, session_scope
from store.models import Account, Job
from store.services import Services, build_services
from store.settings import Settings
from tests.unit.api.conftest import Api, RecordingDispatcher, new_account


def test_error_body_shape() -> None:
    """error_body puts code and message (and field only when given) under "error"."""
    assert error_body("c", "m") == {"error": {"code": "c", "message": "m"}}
    assert error_body("c", "m", "f") == {"error": {"code": "c", "message": "m", "field": "f"}}


# "/" is the web page (tests/unit/web); a path beside it is unknown.
@pytest.mark.parametrize("path", ["/nope", "/v1", "/v1/nope", "/v1/jobs/x/y/z", "/v2/jobs"])
def test_unknown_route_is_json_404(client: FlaskClient, path: str) -> None:
    """A route that does not exist answers 404 with the JSON envelope."""
    response = client.get(path)
    assert response.status_code == 404
    assert response.is_json
    assert response.json == {"error": {"code": "not_found", "message": "no such resource"}}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/jobs", {"GET", "POST"}),
        ("DELETE", "/v1/jobs", {"GET", "POST"}),
        ("PATCH", "/v1/jobs", {"GET", "POST"}),
        ("POST", "/v1/jobs/job_x", {"GET", "HEAD"}),
        ("DELETE", "/v1/jobs/job_x/video", {"GET", "HEAD"}),
        ("POST", "/v1/health", {"GET", "HEAD"}),
    ],
)
def test_wrong_method_is_json_405(client: FlaskClient, method: str, path: str,
                                  allowed: set[str]) -> None:
    """A known route with the wrong method answers 405 JSON and keeps the Allow header."""
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_oversized_body_is_json_413(api: Api, services: Services) -> None:
    """A body over MAX_REQUEST_BYTES answers 413 with the JSON envelope, before parsing."""
    limit = services.settings.max_request_bytes
    idea = "a" * limit
    response = api.create_job({"source": {"type": "idea", "idea": idea}})
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
    assert "larger" in response.json["error"]["message"]


def test_body_just_under_the_limit_is_parsed(api: Api, services: Services) -> None:
    """A body under MAX_REQUEST_BYTES is parsed (here: refused for its idea, not its size)."""
    idea = "a" * (services.settings.max_request_bytes - 200)
    response = api.create_job({"source": {"type": "idea", "idea": idea}})
    assert response.status_code == 422
    assert response.json["error"]["field"] == "source.idea"


def test_malformed_json_names_the_problem(api: Api) -> None:
    """Malformed JSON answers 400 invalid_json with the parser's position."""
    response = api.client.post("/v1/jobs", data=b'{"source": {"type": "idea",}}',
                               headers=api.headers, content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_json"
    assert "line 1 column" in response.json["error"]["message"]


@pytest.fixture
def app_with_faults(services: Services) -> Flask:
    """The app with extra routes that raise, to exercise the generic handlers."""
    app = create_app(services=services, dispatcher=RecordingDispatcher())

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals /etc/passwd")

    @app.get("/db-down")
    def db_down() -> str:
        raise DatabaseUnavailable("connection refused")

    @app.get("/teapot")
    def teapot() -> str:
        raise ApiError(418, "teapot", "field: short and stout", "field")

    return app


def test_unexpected_exception_is_json_500_without_details(app_with_faults: Flask) -> None:
    """An unhandled exception answers 500 code internal, leaking neither message nor trace."""
    response = app_with_faults.test_client().get("/boom")
    assert response.status_code == 500
    assert response.json == {"error": {"code": "internal",
                                       "message": "something went wrong on our side"}}
    assert b"secret" not in response.data
    assert b"Traceback" not in response.data


def test_database_unavailable_is_json_503(app_with_faults: Flask) -> None:
    """DatabaseUnavailable raised in a view answers 503 database_unavailable."""
    response = app_with_faults.test_client().get("/db-down")
    assert response.status_code == 503
    assert response.json["error"]["code"] == "database_unavailable"
    assert "127.0.0.1" not in response.json["error"]["message"]


def test_api_error_keeps_status_code_and_field(app_with_faults: Flask) -> None:
    """An ApiError answers with its own status, code, message and field."""
    response = app_with_faults.test_client().get("/teapot")
    assert response.status_code == 418
    assert response.json == {"error": {"code": "teapot", "message": "field: short and stout",
                                       "field": "field"}}


@pytest.fixture
def unreachable_db_api(embedded_settings: Settings, services: Services) -> Iterator[Api]:
    """An authorised client whose app's database stops answering after the account exists."""
    account = new_account(services)
    down = dataclasses.replace(embedded_settings,
                               database_url="postgresql+psycopg://postgres@127.0.0.1:1/x")
    down_services = build_services(down)
    app = create_app(services=down_services, dispatcher=RecordingDispatcher())
    yield Api(app.test_client(), account)
    down_services.close()


def test_database_outage_during_a_request_is_503(unreachable_db_api: Api) -> None:
    """With the database down, job requests answer 503 database_unavailable, not 500."""
    response = unreachable_db_api.create_job()
    assert response.status_code == 503, response.json
    assert response.json["error"]["code"] == "database_unavailable"
    assert "127.0.0.1" not in response.json["error"]["message"]


@pytest.fixture
def unreachable_broker_api(distributed_settings: Settings) -> Iterator[tuple[Api, Services]]:
    """An authorised client on the session's Postgres whose Redis refuses connections."""
    down = dataclasses.replace(distributed_settings, redis_url="redis://127.0.0.1:1/0")
    svc = build_services(down)
    account = new_account(svc)
    app = create_app(services=svc, dispatcher=RecordingDispatcher())
    yield Api(app.test_client(), account), svc
    with session_scope(svc.sessions) as session:
        session.delete(session.get(Account, account.account_id))
    svc.close()


def test_redis_outage_during_a_request_is_503(
        unreachable_broker_api: tuple[Api, Services]) -> None:
    """With Redis down, a new job answers 503 broker_unavailable and leaves no job behind."""
    api, svc = unreachable_broker_api
    response = api.create_job()
    assert response.status_code == 503, response.json
    assert response.json["error"]["code"] == "broker_unavailable"
    with svc.sessions() as session:
        left = session.scalar(select(func.count()).select_from(Job)
                              .where(Job.account_id == api.account.account_id))
    assert left == 0
