"""The web page's session cookie opens the /v1 API as its key would, and everything that
changes something must carry the session's CSRF token; sign-out, a revoked key, a disabled
account and expiry all end the session at once."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select, text, update

from api.auth import CSRF_HEADER, SESSION_COOKIE
from store.accounts import revoke_key, set_account_enabled
from store.db import session_scope
from store.models import Account, ApiKey, Job, WebSession, utcnow
from store.services import Services
from store.web_sessions import end_expired_sessions, end_session, open_session, session_owner
from tests.unit.api.conftest import new_account

IDEA = {"source": {"type": "idea", "idea": "Why kites fly"}}


def _signed_in(client: FlaskClient, services: Services) -> tuple[str, str, str]:
    """A browser signed in: (account id, cookie token, CSRF token)."""
    account = new_account(services)
    with session_scope(services.sessions) as session:
        opened = open_session(session, account.api_key)
    assert opened is not None
    client.set_cookie(SESSION_COOKIE, opened.token)
    return account.account_id, opened.token, opened.csrf_token


def _jobs(services: Services) -> int:
    with services.sessions() as session:
        return len(session.scalars(select(Job)).all())


def test_the_cookie_reads_and_with_its_token_writes(client: FlaskClient,
                                                    services: Services) -> None:
    _, _, csrf = _signed_in(client, services)
    assert client.get("/v1/jobs").status_code == 200
    made = client.post("/v1/jobs", json=IDEA, headers={CSRF_HEADER: csrf})
    assert made.status_code == 202, made.get_json()
    assert _jobs(services) == 1


def test_a_write_without_or_with_a_wrong_csrf_token_is_403_and_changes_nothing(
        client: FlaskClient, services: Services) -> None:
    _, _, csrf = _signed_in(client, services)
    for headers in ({}, {CSRF_HEADER: ""}, {CSRF_HEADER: csrf[:-1] + "x"}):
        refused = client.post("/v1/jobs", json=IDEA, headers=headers)
        assert refused.status_code == 403
        assert refused.get_json()["error"]["code"] == "csrf_failed"
    profile_id = client.get("/v1/profiles").get_json()["profiles"][0]["id"]
    renamed = client.patch(f"/v1/profiles/{profile_id}", json={"name": "Hacked"})
    assert renamed.status_code == 403
    assert client.get(f"/v1/profiles/{profile_id}").get_json()["name"] == "Default"
    assert _jobs(services) == 0


def test_a_bearer_key_wins_over_the_cookie_and_needs_no_csrf(client: FlaskClient,
                                                             services: Services) -> None:
    _signed_in(client, services)
    other = new_account(services, "other")
    made = client.post("/v1/jobs", json=IDEA,
                       headers={"Authorization": f"Bearer {other.api_key}"})
    assert made.status_code == 202
    with services.sessions() as session:
        assert session.get(Job, made.get_json()["id"]).account_id == other.account_id


def test_sign_out_revoke_disable_and_expiry_each_end_the_session(client: FlaskClient,
                                                                 services: Services) -> None:
    for ending in ("sign_out", "revoke", "disable", "expire"):
        account_id, token, _ = _signed_in(client, services)
        assert client.get("/v1/jobs").status_code == 200
        with session_scope(services.sessions) as session:
            if ending == "sign_out":
                end_session(session, token)
            elif ending == "revoke":
                key_id = session.scalar(select(ApiKey.id).where(ApiKey.account_id == account_id))
                revoke_key(session, key_id)
            elif ending == "disable":
                set_account_enabled(session, session.get(Account, account_id), False)
            else:
                session.execute(update(WebSession).values(
                    expires_at=utcnow() - timedelta(seconds=1)))
        refused = client.get("/v1/jobs")
        assert refused.status_code == 401, ending
        assert "sign in again" in refused.get_json()["error"]["message"]
    with session_scope(services.sessions) as session:
        assert end_expired_sessions(session) >= 1


def test_only_the_tokens_hash_is_stored(client: FlaskClient, services: Services) -> None:
    _, token, _ = _signed_in(client, services)
    with services.sessions() as session:
        dumped = " ".join(str(row) for row in session.execute(text("SELECT * FROM web_sessions")))
        assert token not in dumped
        assert session_owner(session, token) is not None
        assert session_owner(session, token + "x") is None


def test_a_bad_key_opens_no_session(services: Services) -> None:
    with session_scope(services.sessions) as session:
        assert open_session(session, "vf_not-a-key") is None
        assert open_session(session, "") is None
