"""The one interface every reader and writer of media goes through.

Keys are POSIX-style relative paths: `<job_id>/<stage>/<file>` for artifacts,
`uploads/…`, `profiles/…`, `exports/…` for the rest. Two implementations: a local folder
(the embedded default) and an S3-compatible bucket.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol


class InvalidKey(ValueError):
    """A key that would escape the storage root or is not relative."""


class MediaMissing(FileNotFoundError):
    """No finished object is stored under the key."""


class StorageNotReady(RuntimeError):
    """The storage cannot be made usable: the server is unreachable, the credentials are
    refused, the bucket name is taken, or the folder cannot be created. The message is one
    line and names the setting to check."""


def artifact_key(job_id: str, stage: str, name: str) -> str:
    """The key of one stage's file for one job."""
    return f"{job_id}/{stage}/{name}"


def check_key(key: str) -> PurePosixPath:
    """The key's parts, refusing absolute keys, '..' and empty keys."""
    pure = PurePosixPath(key)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\\" in key:
        raise InvalidKey(f"invalid media key {key!r}")
    return pure


@dataclass(frozen=True)
class ObjectInfo:
    """What the store knows of one object."""

    key: str
    size: int
    etag: str  # changes whenever the content does (S3 ETag; size+mtime locally)


class ScratchFolders:
    """Local working folders under `scratch_root`, one per run of a stage."""

    scratch_root: Path

    def scratch_dir(self, job_id: str, stage: str) -> Path:
        """A fresh working folder for one run of a stage (removed with `discard_scratch`)."""
        folder = self.scratch_root / job_id / f"{stage}-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def discard_scratch(self, folder: Path) -> None:
        """Remove a working folder made by `scratch_dir`."""
        shutil.rmtree(folder, ignore_errors=True)


class MediaStorage(Protocol):
    """Media by key. Writes are atomic: a crash never leaves a half object under a key."""

    def ensure_ready(self) -> str:
        """Create the folder or the bucket when it is missing; a one-line account of what
        was done (created, or already there).

        Idempotent: existing storage (for a bucket: one these credentials own) is left as it
        is, objects included. Raises StorageNotReady when the storage cannot be reached or
        created. `videofactory media init` calls it; nothing else creates buckets.
        """

    def exists(self, key: str) -> bool:
        """Whether a finished object is stored under the key."""

    def stat(self, key: str) -> ObjectInfo | None:
        """Size and ETag of the object, or None when there is none."""

    def put_file(self, key: str, source: Path) -> str:
        """Store a local file under the key (large files in parts); return the key."""

    def put_bytes(self, key: str, data: bytes) -> str:
        """Store bytes under the key; return the key."""

    def fetch(self, key: str) -> Path:
        """A local file with the object's content, to read only (may be a cached copy).

        Raises MediaMissing when there is no object under the key.
        """

    def read_bytes(self, key: str) -> bytes:
        """The whole object (small objects: JSON, captions)."""

    def iter_range(self, key: str, start: int, end: int,
                   chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Bytes start..end (inclusive) of the object, in chunks."""

    def list(self, prefix: str) -> list[str]:
        """The keys of finished objects directly or deeper below `prefix/`, sorted."""

    def delete(self, key: str) -> None:
        """Remove the object; a missing one is no error."""

    def copy(self, source_key: str, target_key: str) -> str:
        """Copy an object to another key atomically (server-side where it can)."""

    def move(self, source_key: str, target_key: str) -> str:
        """Move an object to another key; the target appears whole or not at all."""

    def presign(self, key: str, expires: int = 3600) -> str | None:
        """A time-limited URL that serves the object, or None where the store has none."""

    def describe(self, key: str) -> str:
        """Where a person finds the object: a file path, or an s3:// URL."""

    def scratch_dir(self, job_id: str, stage: str) -> Path:
        """A fresh local working folder for one run of a stage (removed by discard_scratch)."""

    def discard_scratch(self, folder: Path) -> None:
        """Remove a folder made by scratch_dir."""
