"""Bearer API keys: who gets in, who gets a JSON 401, and how keys are stored."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from store.accounts import hash_api_key
from store.db import session_scope
from store.models import Account, Job
from store.services import Services
from tests.unit.api.conftest import Api, new_account

IDEA_BODY = {"source": {"type": "idea", "idea": "Why cold brew tastes smoother"}}


@pytest.mark.parametrize(
    ("authorization", "message_part"),
    [
        pytest.param(None, "missing API key", id="no-header"),
        pytest.param("", "missing API key", id="empty-header"),
        pytest.param("Bearer", "missing API key", id="scheme-only"),
        pytest.param("Bearer    ", "missing API key", id="blank-key"),
        pytest.param("Basic dXNlcjpwYXNz", "missing API key", id="basic-scheme"),
        pytest.param("Token vf_abc", "missing API key", id="token-scheme"),
        pytest.param("Bearer vf_notarealkey", "invalid, revoked or disabled API key",
                     id="unknown-key"),
        pytest.param("Bearer sk-somethingelse", "invalid, revoked or disabled API key",
                     id="foreign-key-format"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/jobs"), ("GET", "/v1/jobs/job_x"), ("GET", "/v1/jobs/job_x/video")],
)
def test_bad_credentials_get_json_401(client: FlaskClient, services: Services,
                                      authorization: str | None, message_part: str,
                                      method: str, path: str) -> None:
    """Every job route answers a missing, malformed or unknown key with a JSON 401."""
    new_account(services)  # a real key exists; the request just does not carry it
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.open(path, method=method, headers=headers, json=IDEA_BODY)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert message_part in response.json["error"]["message"]
    with services.sessions() as session:
        assert session.query(Job).count() == 0


def test_401_comes_before_body_validation(client: FlaskClient) -> None:
    """An unauthenticated malformed body is a 401, not a 400: nothing is parsed for strangers."""
    response = client.post("/v1/jobs", data=b"{not json", content_type="application/json")
    assert response.status_code == 401


def test_valid_key_gets_in(api: Api) -> None:
    """The key create_account returned authorises requests."""
    assert api.create_job().status_code == 202


def test_scheme_is_case_insensitive(client: FlaskClient, services: Services) -> None:
    """`bearer` in lower case is accepted like `Bearer`."""
    account = new_account(services)
    response = client.post("/v1/jobs", json=IDEA_BODY,
                           headers={"Authorization": f"bearer {account.api_key}"})
    assert response.status_code == 202, response.json


def test_key_of_deleted_account_is_refused(client: FlaskClient, services: Services) -> None:
    """Once its account is deleted, a key answers 401."""
    account = new_account(services)
    headers = {"Authorization": f"Bearer {account.api_key}"}
    assert client.post("/v1/jobs", json=IDEA_BODY, headers=headers).status_code == 202
    with session_scope(services.sessions) as session:
        session.delete(session.get(Account, account.account_id))
    response = client.post("/v1/jobs", json=IDEA_BODY, headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_one_accounts_key_is_not_anothers(client: FlaskClient, services: Services) -> None:
    """A key reaches only its own account's jobs."""
    first = Api(client, new_account(services, "first"))
    second = Api(client, new_account(services, "second"))
    job_id = first.create_job().json["id"]
    assert first.get(f"/v1/jobs/{job_id}").status_code == 200
    assert second.get(f"/v1/jobs/{job_id}").status_code == 404


def test_keys_are_stored_only_as_hashes(services: Services) -> None:
    """The api_keys table holds the key's SHA-256 and nowhere the plaintext key."""
    account = new_account(services)
    with services.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM api_keys")).mappings().all()
        accounts = connection.execute(text("SELECT * FROM accounts")).mappings().all()
    assert len(rows) == 1
    row = rows[0]
    assert row["key_hash"] == hash_api_key(account.api_key)
    assert len(row["key_hash"]) == 64
    dumped = " ".join(str(value) for value in [*row.values(), *accounts[0].values()])
    assert account.api_key not in dumped
    assert account.api_key.removeprefix("vf_") not in dumped
