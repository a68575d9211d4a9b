"""Secrets a profile holds (its LLM key, its stock keys), encrypted at rest.

Each is sealed with Fernet (AES-128-CBC with an HMAC-SHA256 tag) under a key derived from
SECRET_KEY, and stored as `fernet:<token>`. Earlier keys in SECRET_KEY_PREVIOUS still open
what they sealed, so an operator can rotate SECRET_KEY without losing any profile's keys;
`reseal` moves one onto the current key. Nothing in this module logs or returns a secret
except `open`, whose caller is the stage that needs it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from store.settings import Settings

SEALED_PREFIX = "fernet:"
# Names of the secrets a profile may hold, as the API accepts them and settings store them.
PROFILE_SECRETS = ("llm_api_key", "pexels_api_key", "pixabay_api_key")


class SecretsUnavailable(Exception):
    """No SECRET_KEY is configured, so nothing can be sealed or opened."""


class SecretUnreadable(Exception):
    """A sealed value that no configured key opens (the key that sealed it is gone)."""


def _fernet(secret_key: str) -> Fernet:
    # HKDF turns any long string into the 32 bytes Fernet wants; the info string keeps these
    # keys apart from anything else one day derived from the same SECRET_KEY.
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"videofactory profile secrets v1").derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


class SecretBox:
    """Seals with the current key; opens with the current or any previous one."""

    def __init__(self, current: str | None, previous: Sequence[str] = ()) -> None:
        keys = [key for key in (current, *previous) if key]
        self._box = MultiFernet([_fernet(key) for key in keys]) if current else None

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """SECRET_KEY, and SECRET_KEY_PREVIOUS (comma-separated)."""
        previous = [part.strip() for part in (settings.secret_key_previous or "").split(",")]
        return cls(settings.secret_key, [part for part in previous if part])

    @property
    def available(self) -> bool:
        """Whether a SECRET_KEY is configured."""
        return self._box is not None

    def _require(self) -> MultiFernet:
        if self._box is None:
            raise SecretsUnavailable(
                "SECRET_KEY is not set: set it (any long random string, e.g. from `python3 -c "
                "'import secrets; print(secrets.token_urlsafe(48))'`) so profiles can keep keys")
        return self._box

    def seal(self, plaintext: str) -> str:
        """The stored form of a secret.

        Raises:
            SecretsUnavailable: no SECRET_KEY.
        """
        return SEALED_PREFIX + self._require().encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        """The secret itself.

        Raises:
            SecretsUnavailable: no SECRET_KEY.
            SecretUnreadable: no configured key opens it.
        """
        if not sealed.startswith(SEALED_PREFIX):
            raise SecretUnreadable("not a sealed secret")
        try:
            return self._require().decrypt(sealed[len(SEALED_PREFIX):].encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(
                "no configured key opens this secret: SECRET_KEY changed and the key it was "
                "sealed with is not in SECRET_KEY_PREVIOUS; set the secret again") from None

    def reseal(self, sealed: str) -> str:
        """The same secret sealed under the current key (after a rotation)."""
        return SEALED_PREFIX + self._require().rotate(
            sealed[len(SEALED_PREFIX):].encode()).decode()


def profile_secret(box: SecretBox, settings: dict[str, object], name: str) -> str | None:
    """A profile's secret `name` in clear, or None when it holds none."""
    sealed = (settings.get("secrets") or {}).get(name) if isinstance(
        settings.get("secrets"), dict) else None
    return box.open(sealed) if isinstance(sealed, str) and sealed else None
