"""Bearer API keys: resolve the account, or answer 401."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from api.context import db_session
from api.errors import ApiError
from store.accounts import account_for_key

F = TypeVar("F", bound=Callable[..., Any])


def require_account(view: F) -> F:
    """Put the key's account on `g.account`, or raise 401."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ApiError(401, "unauthorized",
                           "missing API key: send `Authorization: Bearer <api key>`")
        session = db_session()
        account = account_for_key(session, key.strip())
        if account is None:
            raise ApiError(401, "unauthorized",
                           "invalid, revoked or disabled API key: create one with "
                           "`videofactory keys create ACCOUNT`")
        session.commit()  # the key's last use, before the view's own work
        g.account = account
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
