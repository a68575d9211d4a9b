"""Accounts: keys shown once and stored hashed, a default profile, lookups by owner."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete, event, select, text
from sqlalchemy.orm import Session

from store.accounts import (
    API_KEY_PREFIX,
    account_for_key,
    account_keys,
    create_account,
    default_profile,
    hash_api_key,
    owned_profile,
)
from store.models import Account, Profile, new_id


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session; the accounts it created are deleted afterwards (profiles cascade)."""
    created: list[str] = []

    def remember(_session: Session, obj: object) -> None:
        if isinstance(obj, Account):
            created.append(obj.id)

    with Session(engine, expire_on_commit=False) as sess:
        event.listen(sess, "after_attach", remember)
        yield sess
        sess.rollback()
        sess.execute(delete(Account).where(Account.id.in_(created)))
        sess.commit()


def test_hash_is_sha256_hex() -> None:
    """hash_api_key is the hex SHA-256 of the key: 64 characters, deterministic."""
    assert hash_api_key("vf_abc") == hashlib.sha256(b"vf_abc").hexdigest()
    assert len(hash_api_key("vf_abc")) == 64
    assert hash_api_key("vf_abc") != hash_api_key("vf_abd")


def test_create_account_makes_key_and_default_profile(session: Session) -> None:
    """A new account has a fresh prefixed key, its hash stored, and one default profile."""
    made = create_account(session, "Coffee shop")
    session.commit()
    assert made.api_key.startswith(API_KEY_PREFIX)
    assert len(made.api_key) > 40
    account = session.get(Account, made.account_id)
    assert account.name == "Coffee shop"
    [key] = account_keys(session, made.account_id)
    assert key.key_hash == hash_api_key(made.api_key) and key.hint == made.api_key[:8]
    profiles = session.scalars(select(Profile).where(Profile.account_id == made.account_id)).all()
    assert [(p.id, p.is_default) for p in profiles] == [(made.profile_id, True)]


def test_plaintext_key_is_not_stored(session: Session) -> None:
    """No column of the account's row contains the plaintext key."""
    made = create_account(session, "shop")
    session.commit()
    row = session.execute(text("SELECT * FROM accounts WHERE id = :id"),
                          {"id": made.account_id}).mappings().one()
    assert all(made.api_key not in str(value) for value in row.values())


def test_keys_are_unique_per_account(session: Session) -> None:
    """Two accounts get different keys and ids."""
    first, second = create_account(session, "a"), create_account(session, "b")
    assert first.api_key != second.api_key
    assert first.account_id != second.account_id


def test_account_for_key_finds_the_owner(session: Session) -> None:
    """The key resolves to its own account."""
    first, second = create_account(session, "a"), create_account(session, "b")
    session.commit()
    assert account_for_key(session, first.api_key).id == first.account_id
    assert account_for_key(session, second.api_key).id == second.account_id


@pytest.mark.parametrize("key", ["", "vf_", "vf_unknown", "not-a-vf-key", "VF_UPPER"])
def test_unknown_keys_resolve_to_nothing(session: Session, key: str) -> None:
    """Unknown, empty or foreign-looking keys resolve to no account."""
    create_account(session, "a")
    session.commit()
    assert account_for_key(session, key) is None


def test_key_without_prefix_is_not_looked_up(session: Session) -> None:
    """A real key stripped of its prefix is not accepted."""
    made = create_account(session, "a")
    session.commit()
    assert account_for_key(session, made.api_key.removeprefix(API_KEY_PREFIX)) is None


def test_default_profile(session: Session) -> None:
    """default_profile returns the account's default, ignoring its other profiles."""
    made = create_account(session, "a")
    session.add(Profile(id=new_id("prof"), account_id=made.account_id, name="Other",
                        is_default=False, settings={}))
    session.commit()
    assert default_profile(session, made.account_id).id == made.profile_id
    assert default_profile(session, "acc_missing") is None


def test_owned_profile_checks_the_owner(session: Session) -> None:
    """owned_profile returns a profile only to the account that owns it."""
    first, second = create_account(session, "a"), create_account(session, "b")
    session.commit()
    assert owned_profile(session, first.account_id, first.profile_id).id == first.profile_id
    assert owned_profile(session, first.account_id, second.profile_id) is None
    assert owned_profile(session, first.account_id, "prof_missing") is None
