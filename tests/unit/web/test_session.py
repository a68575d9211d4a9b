"""Signing in and out of the web page: the key becomes an HttpOnly, SameSite=Strict session
cookie and is kept nowhere else; every form that changes something needs its token."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from api.auth import SESSION_COOKIE
from api.web.session import BRAND_COOKIE, SIGN_IN_COOKIE, local_target
from store.accounts import NewAccount
from store.services import Services
from tests.unit.api.conftest import new_account
from tests.unit.web.conftest import csrf_of


def _form_token(client: FlaskClient) -> str:
    page = client.get("/sign-in").get_data(as_text=True)
    found = re.search(r'name="sign_in_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _set_cookies(response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


def test_pages_send_a_signed_out_browser_to_sign_in(client: FlaskClient) -> None:
    """Every page redirects to the sign-in form, remembering where it was going."""
    for path in ("/", "/jobs", "/jobs/job_x", "/batches", "/batches/bat_x", "/brands",
                 "/brands/prof_x"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"].startswith("/sign-in?next="), path


def test_sign_in_sets_a_strict_httponly_session_cookie(client: FlaskClient,
                                                       account: NewAccount) -> None:
    """A good key opens a session whose cookie is HttpOnly, SameSite=Strict, for the whole
    site; the key is in no cookie, header or URL."""
    token = _form_token(client)
    response = client.post("/sign-in", data={"sign_in_token": token, "api_key": account.api_key,
                                             "next": "/jobs"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/jobs"
    cookie = _set_cookies(response)[SESSION_COOKIE]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; https requests get Secure
    everything = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    assert account.api_key not in everything
    page = client.get("/jobs").get_data(as_text=True)
    assert account.api_key not in page


def test_sign_in_over_https_marks_the_cookie_secure(client: FlaskClient,
                                                    account: NewAccount) -> None:
    """Behind https the session cookie is Secure too."""
    page = client.get("/sign-in", base_url="https://localhost")
    token = re.search(r'name="sign_in_token" value="([^"]+)"', page.get_data(as_text=True))
    assert token is not None
    response = client.post("/sign-in", base_url="https://localhost",
                           data={"sign_in_token": token.group(1), "api_key": account.api_key})
    assert "Secure" in _set_cookies(response)[SESSION_COOKIE]


def test_a_wrong_key_shows_an_error_on_the_sign_in_page(client: FlaskClient) -> None:
    """A bad key answers the form again, with the error and no session."""
    token = _form_token(client)
    response = client.post("/sign-in", data={"sign_in_token": token, "api_key": "vf_wrong"})
    assert response.status_code == 400
    assert "That API key is not valid" in response.get_data(as_text=True)
    assert SESSION_COOKIE not in _set_cookies(response)
    assert client.get("/").status_code == 303


def test_sign_in_refuses_a_post_without_the_forms_own_token(client: FlaskClient,
                                                            account: NewAccount) -> None:
    """Login CSRF: a form posted from elsewhere (no double-submit token, or another one)
    opens no session, even with a good key."""
    client.get("/sign-in")
    for data in ({"api_key": account.api_key},
                 {"api_key": account.api_key, "sign_in_token": "forged"}):
        response = client.post("/sign-in", data=data)
        assert response.status_code == 400
        assert SESSION_COOKIE not in _set_cookies(response)
    fresh = client.application.test_client()  # no sign-in cookie at all
    response = fresh.post("/sign-in", data={"api_key": account.api_key, "sign_in_token": "x"})
    assert response.status_code == 400 and SESSION_COOKIE not in _set_cookies(response)


def test_the_sign_in_token_cookie_is_strict_and_short_lived(client: FlaskClient) -> None:
    """The double-submit cookie is HttpOnly, SameSite=Strict and lives half an hour."""
    cookie = _set_cookies(client.get("/sign-in"))[SIGN_IN_COOKIE]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=1800" in cookie


def test_sign_out_needs_the_csrf_token_and_ends_the_session(browser: FlaskClient) -> None:
    """Sign-out without the token is refused and changes nothing; with it, the session ends
    (the old cookie opens neither the pages nor the API) and the cookie is cleared."""
    csrf = csrf_of(browser.get("/").get_data(as_text=True))
    refused = browser.post("/sign-out", data={})
    assert refused.status_code == 403
    assert browser.get("/v1/jobs").status_code == 200
    cookie = browser.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    old = cookie.value
    done = browser.post("/sign-out", data={"csrf_token": csrf})
    assert done.status_code == 303 and done.headers["Location"] == "/sign-in?signed_out=1"
    assert "Max-Age=0" in _set_cookies(done)[SESSION_COOKIE]
    browser.set_cookie(SESSION_COOKIE, old)  # a copied cookie is no use either
    assert browser.get("/").status_code == 303
    assert browser.get("/v1/jobs").status_code == 401


def test_a_post_to_the_api_without_the_csrf_header_is_refused(browser: FlaskClient) -> None:
    """The session cookie alone cannot change anything."""
    response = browser.post("/v1/jobs", json={"source": {"type": "idea", "idea": "Kites"}})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "csrf_failed"


def test_choosing_a_brand_needs_csrf_and_an_own_profile(browser: FlaskClient,
                                                        services: Services) -> None:
    """The brand switcher remembers one of the account's brands; it refuses a form without
    the token and a profile of another account."""
    csrf = csrf_of(browser.get("/").get_data(as_text=True))
    made = browser.post("/v1/profiles", json={"name": "Tea"}, headers={"X-CSRF-Token": csrf})
    tea = made.get_json()["id"]
    assert browser.post("/brand", data={"profile_id": tea}).status_code == 403
    foreign = new_account(services, "other").profile_id
    refused = browser.post("/brand", data={"profile_id": foreign, "csrf_token": csrf})
    assert refused.status_code == 404 and BRAND_COOKIE not in _set_cookies(refused)
    chosen = browser.post("/brand", data={"profile_id": tea, "csrf_token": csrf,
                                          "next": "/jobs"})
    assert chosen.status_code == 303 and chosen.headers["Location"] == "/jobs"
    assert "SameSite=Strict" in _set_cookies(chosen)[BRAND_COOKIE]
    page = browser.get("/").get_data(as_text=True)
    assert f'<meta name="profile-id" content="{tea}">' in page
    assert "New video for Tea" in page


def test_only_local_paths_are_followed_after_sign_in() -> None:
    """`next` cannot send the browser to another site."""
    assert local_target("/jobs?status=failed") == "/jobs?status=failed"
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "jobs",
                   "", None, "/\x00x", "javascript:alert(1)"):
        assert local_target(target) == "/", target
