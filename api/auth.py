"""Bearer API keys: resolve the account, or answer 401."""

from __future__ import annotations

import functools
import hmac
import math
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from api.context import db_session, services
from api.errors import ApiError
from store.accounts import key_owner
from store.web_sessions import session_owner

F = TypeVar("F", bound=Callable[..., Any])


SESSION_COOKIE = "vf_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _from_api_key(header: str) -> None:
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "unauthorized",
                       "missing API key: send `Authorization: Bearer <api key>`")
    session = db_session()
    found = key_owner(session, key.strip())
    if found is None:
        raise ApiError(401, "unauthorized",
                       "invalid, revoked or disabled API key: create one with "
                       "`videofactory keys create ACCOUNT`")
    session.commit()  # the key's last use, before the view's own work
    g.account, g.api_key_id = found


def _from_web_session(token: str) -> None:
    """The web page's signed-in browser; what changes something must echo the session's CSRF
    token (a header from the page's script, or a form field)."""
    signed_in = session_owner(db_session(), token)
    if signed_in is None:
        raise ApiError(401, "unauthorized", "signed out: sign in again with an API key")
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER) or request.form.get("csrf_token") or ""
        if not hmac.compare_digest(sent.encode(), signed_in.csrf_token.encode()):
            raise ApiError(403, "csrf_failed",
                           f"this request did not carry the page's {CSRF_HEADER}; reload the "
                           "page and try again")
    g.account, g.api_key_id = signed_in.account, signed_in.api_key_id
    g.csrf_token = signed_in.csrf_token


def require_account(view: F) -> F:
    """Put the caller's account on `g.account` (from the Bearer key, else the web page's
    session cookie), or raise 401."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        token = request.cookies.get(SESSION_COOKIE)
        if header or not token:
            _from_api_key(header)
        else:
            _from_web_session(token)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def rate_limited(kind: str) -> Callable[[F], F]:
    """Refuse a key's requests of this kind past its per-minute limit with 429 and
    Retry-After; the bucket lives in Redis, so every API process shares it."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            svc = services()
            per_minute = {"jobs": svc.settings.rate_limit_jobs_per_minute,
                          "uploads": svc.settings.rate_limit_uploads_per_minute}[kind]
            wait = svc.rate_limits.take(f"api:{kind}:{g.api_key_id}", capacity=per_minute,
                                        per_seconds=60)
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                raise ApiError(429, "rate_limited",
                               f"this key may make {per_minute} {kind} requests a minute; "
                               f"try again in {seconds} s", headers={"Retry-After": str(seconds)})
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate
