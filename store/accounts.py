"""Accounts, their API keys (stored as hashes, several per account, revocable) and their
profiles."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from store.models import Account, ApiKey, Profile, new_id, utcnow

API_KEY_PREFIX = "vf_"
HINT_CHARS = 8  # "vf_" and five more: enough to tell keys apart, far too few to guess one
# A key's last use is written at most this often: a busy key must not write on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def hash_api_key(key: str) -> str:
    """SHA-256 hex of a key: enough for 256-bit random secrets, and constant-time to look up."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class NewAccount:
    """What `create_account` made; the key is shown once and never stored."""

    account_id: str
    profile_id: str
    api_key: str


@dataclass(frozen=True)
class NewKey:
    """A key just made: its row and the key itself, shown once."""

    key_id: str
    api_key: str


def create_key(session: Session, account_id: str, name: str = "") -> NewKey:
    """A fresh API key for the account."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(id=new_id("key"), account_id=account_id, name=name[:200] or "key",
                 key_hash=hash_api_key(key), hint=key[:HINT_CHARS])
    session.add(row)
    session.flush()
    return NewKey(row.id, key)


def create_account(session: Session, name: str) -> NewAccount:
    """Create an account with its default profile and a first API key."""
    account = Account(id=new_id("acc"), name=name)
    profile = Profile(id=new_id("prof"), account_id=account.id, name="Default",
                      is_default=True, settings={})
    session.add(account)
    session.flush()
    session.add(profile)
    session.flush()
    key = create_key(session, account.id, "first key")
    return NewAccount(account_id=account.id, profile_id=profile.id, api_key=key.api_key)


def account_for_key(session: Session, key: str) -> Account | None:
    """The enabled account owning an unrevoked API key, or None (see `key_owner`)."""
    found = key_owner(session, key)
    return None if found is None else found[0]


def key_owner(session: Session, key: str) -> tuple[Account, str] | None:
    """The enabled account owning an unrevoked API key, and the key's id; None otherwise.
    Read afresh on every call, so a revoke or a disable counts from the very next request.
    The key's last use is noted in the session (the caller commits)."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    found = session.execute(
        select(Account, ApiKey).join(ApiKey, ApiKey.account_id == Account.id)
        .where(ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None),
               Account.disabled_at.is_(None))).first()
    if found is None:
        return None
    account, api_key = found
    now = utcnow()
    session.execute(update(ApiKey).where(
        ApiKey.id == api_key.id,
        or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_RESOLUTION))
        .values(last_used_at=now)
        # Compared in SQL only: SQLite hands back naive times the session could not compare.
        .execution_options(synchronize_session=False))
    return account, api_key.id


def find_account(session: Session, name_or_id: str) -> Account | None:
    """The account with this id, or else the one with this name (None if none or several)."""
    account = session.get(Account, name_or_id)
    if account is not None:
        return account
    named = list(session.scalars(select(Account).where(Account.name == name_or_id).limit(2)))
    return named[0] if len(named) == 1 else None


def list_accounts(session: Session) -> list[Account]:
    """Every account, oldest first."""
    return list(session.scalars(select(Account).order_by(Account.created_at, Account.id)))


def set_account_enabled(session: Session, account: Account, enabled: bool) -> None:
    """Disable (every key refused from the next request) or enable an account again."""
    account.disabled_at = None if enabled else (account.disabled_at or utcnow())


def account_keys(session: Session, account_id: str) -> list[ApiKey]:
    """The account's keys, oldest first, revoked ones included."""
    return list(session.scalars(select(ApiKey).where(ApiKey.account_id == account_id)
                                .order_by(ApiKey.created_at, ApiKey.id)))


def revoke_key(session: Session, key_id: str) -> ApiKey | None:
    """Revoke a key (refused from the next request); None when there is no such key."""
    row = session.get(ApiKey, key_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def default_profile(session: Session, account_id: str) -> Profile | None:
    """The account's default profile."""
    return session.scalar(
        select(Profile).where(Profile.account_id == account_id, Profile.is_default.is_(True))
    )


def owned_profile(session: Session, account_id: str, profile_id: str) -> Profile | None:
    """A profile, only if the account owns it."""
    profile = session.get(Profile, profile_id)
    return profile if profile is not None and profile.account_id == account_id else None
