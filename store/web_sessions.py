"""Browser sessions of the web page, kept in the database: the cookie carries a random token,
the row its hash, so a stolen database opens no session and a sign-out ends it everywhere."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store.accounts import hash_api_key, key_owner
from store.models import Account, ApiKey, WebSession, utcnow

SESSION_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class SignedIn:
    """A session's owner: the account, the key it signed in with, the CSRF token."""

    account: Account
    api_key_id: str
    csrf_token: str


@dataclass(frozen=True)
class NewSession:
    """A session just opened; `token` goes into the cookie and is never stored."""

    token: str
    csrf_token: str


def open_session(session: Session, api_key: str) -> NewSession | None:
    """Sign in with an API key: a new session, or None for a bad, revoked or disabled key."""
    found = key_owner(session, api_key)
    if found is None:
        return None
    account, key_id = found
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(WebSession(id=hash_api_key(token), account_id=account.id, api_key_id=key_id,
                           csrf_token=csrf, expires_at=utcnow() + SESSION_LIFETIME))
    session.flush()
    return NewSession(token, csrf)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def session_owner(session: Session, token: str) -> SignedIn | None:
    """Who the cookie's session belongs to, read afresh: None once it expired, was ended, or
    its key was revoked or its account disabled."""
    found = session.execute(
        select(WebSession, Account).join(Account, Account.id == WebSession.account_id)
        .join(ApiKey, ApiKey.id == WebSession.api_key_id)
        .where(WebSession.id == hash_api_key(token), ApiKey.revoked_at.is_(None),
               Account.disabled_at.is_(None))).first()
    if found is None:
        return None
    row, account = found
    if _aware(row.expires_at) <= utcnow():
        return None
    return SignedIn(account, row.api_key_id, row.csrf_token)


def end_session(session: Session, token: str) -> None:
    """Sign out: the session's row goes, so its cookie opens nothing any more."""
    session.execute(delete(WebSession).where(WebSession.id == hash_api_key(token)))


def end_expired_sessions(session: Session) -> int:
    """Remove expired sessions; how many there were."""
    result = session.execute(delete(WebSession).where(WebSession.expires_at <= utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
