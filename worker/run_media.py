"""A run's view of media storage: its outputs go under run-unique keys until promoted.

Two runs of one stage (a superseded one coming back, say) must never both write the job's
final keys. Each run writes `<job_id>/.runs/<stage>-<token>-<nonce>/<file>`; only the run that
still holds the stage's lease copies them to `<job_id>/<stage>/<file>`, under the job's row
lock, so a stale run can leave garbage in `.runs/` but never a final object.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from store.media import MediaStorage, check_key


class RunMedia:
    """Delegates to the store; redirects writes of the stage's own keys to a staging area."""

    def __init__(self, media: MediaStorage, job_id: str, stage: str, token: int) -> None:
        self.media = media
        self.final_prefix = f"{job_id}/{stage}/"
        self.staging_prefix = f"{job_id}/.runs/{stage}-{token}-{secrets.token_hex(4)}/"
        self.staged: dict[str, str] = {}  # final key → staged key

    def _staged_key(self, key: str) -> str:
        check_key(key)
        if not key.startswith(self.final_prefix):
            return key
        staged = self.staging_prefix + key[len(self.final_prefix):]
        self.staged[key] = staged
        return staged

    def _read_key(self, key: str) -> str:
        return self.staged.get(key, key)

    def put_file(self, key: str, source: Path) -> str:
        """Stage the stage's own outputs; other keys go straight to the store."""
        self.media.put_file(self._staged_key(key), source)
        return key

    def put_bytes(self, key: str, data: bytes) -> str:
        """Stage the stage's own outputs; other keys go straight to the store."""
        self.media.put_bytes(self._staged_key(key), data)
        return key

    def fetch(self, key: str) -> Path:
        """A local copy of the object (this run's staged version of its own outputs)."""
        return self.media.fetch(self._read_key(key))

    def read_bytes(self, key: str) -> bytes:
        """The whole object (this run's staged version of its own outputs)."""
        return self.media.read_bytes(self._read_key(key))

    def exists(self, key: str) -> bool:
        """Whether the object exists (this run's staged version of its own outputs)."""
        return self.media.exists(self._read_key(key))

    def iter_range(self, key: str, start: int, end: int,
                   chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Bytes of the object."""
        return self.media.iter_range(self._read_key(key), start, end, chunk_size)

    def promote(self) -> None:
        """Copy every staged output to its final key (call only while holding the lease)."""
        for final, staged in self.staged.items():
            self.media.copy(staged, final)

    def discard_staged(self) -> None:
        """Remove the staging copies (after promotion, or when the run is dropped)."""
        for staged in self.staged.values():
            try:
                self.media.delete(staged)
            except Exception:  # noqa: BLE001, S110 - garbage in .runs/ harms nothing
                pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self.media, name)
