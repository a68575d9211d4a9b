"""The app of the API tests, and a browser that signs in through the page."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from store.accounts import NewAccount
from store.services import Services
from tests.unit.api.conftest import app, client, dispatcher, new_account, services  # noqa: F401

_TOKEN = re.compile(r'name="sign_in_token" value="([^"]+)"')
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def sign_in(web: FlaskClient, api_key: str) -> str:
    """Sign in through the form as a browser does; the session's CSRF token."""
    form = web.get("/sign-in")
    token = _TOKEN.search(form.get_data(as_text=True))
    assert token is not None
    done = web.post("/sign-in", data={"sign_in_token": token.group(1), "api_key": api_key})
    assert done.status_code == 303, done.get_data(as_text=True)
    return csrf_of(web.get("/").get_data(as_text=True))


def csrf_of(html: str) -> str:
    """The CSRF token a page carries."""
    found = _CSRF.search(html)
    assert found is not None
    return found.group(1)


@pytest.fixture
def account(services: Services) -> NewAccount:  # noqa: F811 - the imported fixture
    """An account with its default profile."""
    return new_account(services)


@pytest.fixture
def browser(client: FlaskClient, account: NewAccount) -> FlaskClient:  # noqa: F811
    """A test client signed in as `account`."""
    sign_in(client, account.api_key)
    return client
