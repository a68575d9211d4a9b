"""Accounts, their API keys (stored as hashes) and their profiles."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Account, Profile, new_id

API_KEY_PREFIX = "vf_"


def hash_api_key(key: str) -> str:
    """SHA-256 hex of a key: enough for 256-bit random secrets, and constant-time to look up."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class NewAccount:
    """What `create_account` made; the key is shown once and never stored."""

    account_id: str
    profile_id: str
    api_key: str


def create_account(session: Session, name: str) -> NewAccount:
    """Create an account with its default profile and a fresh API key."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    account = Account(id=new_id("acc"), name=name, api_key_hash=hash_api_key(key))
    profile = Profile(id=new_id("prof"), account_id=account.id, name="Default",
                      is_default=True, settings={})
    session.add(account)
    session.flush()
    session.add(profile)
    session.flush()
    return NewAccount(account_id=account.id, profile_id=profile.id, api_key=key)


def account_for_key(session: Session, key: str) -> Account | None:
    """The account owning an API key, or None."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    return session.scalar(select(Account).where(Account.api_key_hash == hash_api_key(key)))


def default_profile(session: Session, account_id: str) -> Profile | None:
    """The account's default profile."""
    return session.scalar(
        select(Profile).where(Profile.account_id == account_id, Profile.is_default.is_(True))
    )


def owned_profile(session: Session, account_id: str, profile_id: str) -> Profile | None:
    """A profile, only if the account owns it."""
    profile = session.get(Profile, profile_id)
    return profile if profile is not None and profile.account_id == account_id else None
