"""Signing in and out of the web page, and who is signed in on each page.

A browser signs in with an API key once; the key is checked, then forgotten: the browser
keeps only a session cookie (`vf_session`, HttpOnly, SameSite=Strict) whose token the
database stores hashed (store.web_sessions). The page's script calls the /v1 API with that
cookie and the session's CSRF token, which the server renders into every page's
`<meta name="csrf-token">`. The sign-in form itself is protected against login CSRF by a
double-submit token: a random value in a short-lived SameSite=Strict cookie that the form
must echo, which another site can neither read nor set.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Response, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from api.auth import SESSION_COOKIE
from api.context import db_session
from api.errors import ApiError
from api.web.blueprint import bp
from store.models import Profile
from store.web_sessions import SESSION_LIFETIME, end_session, open_session, session_owner

F = TypeVar("F", bound=Callable[..., Any])

SIGN_IN_COOKIE = "vf_sign_in"  # the sign-in form's double-submit token
SIGN_IN_LIFETIME = timedelta(minutes=30)
BRAND_COOKIE = "vf_brand"  # which of the account's profiles the page acts for
BRAND_LIFETIME = timedelta(days=365)


def _cookie(response: Response, name: str, value: str, lifetime: timedelta,
            path: str = "/") -> None:
    response.set_cookie(name, value, max_age=int(lifetime.total_seconds()), path=path,
                        httponly=True, samesite="Strict", secure=request.is_secure)


def local_target(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this site, else `default`: a sign-in link cannot send
    the browser elsewhere."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(ch) < 32 for ch in target):
        return default
    return target


def _brands(account_id: str) -> list[Profile]:
    return list(db_session().scalars(
        select(Profile).where(Profile.account_id == account_id)
        .order_by(Profile.is_default.desc(), Profile.created_at)))


def signed_in_page(view: F) -> F:
    """Run the view for a signed-in browser (account, CSRF token and brands on `g`); send
    anyone else to the sign-in page, coming back here afterwards."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        token = request.cookies.get(SESSION_COOKIE)
        owner = session_owner(db_session(), token) if token else None
        if owner is None:
            back = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("web.sign_in", next=back), 303)
        g.account, g.api_key_id, g.csrf_token = owner.account, owner.api_key_id, owner.csrf_token
        g.brands = _brands(owner.account.id)
        chosen = request.cookies.get(BRAND_COOKIE)
        g.brand = next((p for p in g.brands if p.id == chosen), None) or (
            g.brands[0] if g.brands else None)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def check_form_csrf() -> None:
    """Refuse a form post of a signed-in page that does not echo the session's CSRF token."""
    sent = request.form.get("csrf_token", "")
    if not hmac.compare_digest(sent.encode(), g.csrf_token.encode()):
        raise ApiError(403, "csrf_failed", "this form did not carry the page's CSRF token; "
                       "reload the page and try again")


def _sign_in_form(error: str | None = None, status: int = 200) -> ResponseReturnValue:
    token = secrets.token_urlsafe(24)
    response = Response(render_template(
        "web/sign_in.html", sign_in_token=token, error=error,
        next=local_target(request.values.get("next"), ""),
        signed_out=request.args.get("signed_out") == "1"), status=status,
        mimetype="text/html")
    _cookie(response, SIGN_IN_COOKIE, token, SIGN_IN_LIFETIME, path=url_for("web.sign_in"))
    return response


@bp.get("/sign-in")
def sign_in() -> ResponseReturnValue:
    """The sign-in form (a signed-in browser goes straight on)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token and session_owner(db_session(), token) is not None:
        return redirect(local_target(request.args.get("next")), 303)
    return _sign_in_form()


@bp.post("/sign-in")
def sign_in_post() -> ResponseReturnValue:
    """Check the key, open a session, set its cookie; the key itself is kept nowhere."""
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    sent = request.form.get("sign_in_token", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _sign_in_form("This form has expired. Please enter your API key again.", 400)
    key = request.form.get("api_key", "").strip()
    opened = open_session(db_session(), key) if key else None
    if opened is None:
        db_session().rollback()
        return _sign_in_form("That API key is not valid, or it was revoked. Check it and try "
                             "again.", 400)
    db_session().commit()
    response = redirect(local_target(request.form.get("next")), 303)
    _cookie(response, SESSION_COOKIE, opened.token, SESSION_LIFETIME)
    response.delete_cookie(SIGN_IN_COOKIE, path=url_for("web.sign_in"))
    return response


@bp.post("/sign-out")
@signed_in_page
def sign_out() -> ResponseReturnValue:
    """End the session everywhere (its row goes) and forget the cookie."""
    check_form_csrf()
    end_session(db_session(), request.cookies[SESSION_COOKIE])
    db_session().commit()
    response = redirect(url_for("web.sign_in", signed_out=1), 303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Strict")
    return response


@bp.post("/brand")
@signed_in_page
def choose_brand() -> ResponseReturnValue:
    """Act for another of the account's brands from now on."""
    check_form_csrf()
    chosen = request.form.get("profile_id", "")
    if not any(p.id == chosen for p in g.brands):
        raise ApiError(404, "profile_not_found", "no such brand in this account")
    response = redirect(local_target(request.form.get("next")), 303)
    _cookie(response, BRAND_COOKIE, chosen, BRAND_LIFETIME)
    return response


@bp.errorhandler(ApiError)
def _error_page(exc: ApiError) -> ResponseReturnValue:
    # A page answers in HTML, with a message that shows nothing but what was asked for.
    return render_template("web/error.html", status=exc.status, code=exc.code,
                           message=exc.message), exc.status
