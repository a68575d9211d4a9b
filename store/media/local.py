"""Media in a local folder: the embedded default (one machine, or a shared volume)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from store.media.base import (
    MediaMissing,
    ObjectInfo,
    ScratchFolders,
    StorageNotReady,
    check_key,
)


class LocalMediaStorage(ScratchFolders):
    """A folder; temporaries are dot names beside their target and never count as objects."""

    def __init__(self, root: Path, scratch_root: Path | None = None) -> None:
        self.root = Path(root)
        self.scratch_root = Path(scratch_root) if scratch_root else self.root / ".scratch"

    def ensure_ready(self) -> str:
        """Create the folder and its parents when missing; refuse one we cannot write to."""
        existed = self.root.is_dir()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageNotReady(f"cannot create the media folder {self.root}: "
                                  f"{exc.strerror or exc} (check MEDIA_ROOT)") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageNotReady(f"the media folder {self.root} is not writable by this user "
                                  "(check MEDIA_ROOT and its owner)")
        return f"media folder {self.root} {'already exists' if existed else 'created'}"

    def path(self, key: str) -> Path:
        """Where a key lives on disk."""
        return self.root.joinpath(*check_key(key).parts)

    def exists(self, key: str) -> bool:
        """Whether a finished object is stored under the key."""
        return self.path(key).is_file()

    def stat(self, key: str) -> ObjectInfo | None:
        """Size and a change tag (size and nanosecond mtime) of the file."""
        try:
            st = self.path(key).stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(key, st.st_size, f"{st.st_size:x}-{st.st_mtime_ns:x}")

    def _temporary(self, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")

    def put_file(self, key: str, source: Path) -> str:
        """Copy a file in under the key, atomically: a crash never leaves a half file."""
        target = self.path(key)
        temporary = self._temporary(target)
        try:
            shutil.copyfile(source, temporary)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        return key

    def put_bytes(self, key: str, data: bytes) -> str:
        """Write bytes under the key, atomically."""
        target = self.path(key)
        temporary = self._temporary(target)
        try:
            temporary.write_bytes(data)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        return key

    def fetch(self, key: str) -> Path:
        """The file itself: nothing to download."""
        path = self.path(key)
        if not path.is_file():
            raise MediaMissing(f"no media stored under {key!r}")
        return path

    def read_bytes(self, key: str) -> bytes:
        """The whole file."""
        return self.fetch(key).read_bytes()

    def iter_range(self, key: str, start: int, end: int,
                   chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Bytes start..end (inclusive) of the file."""
        with self.fetch(key).open("rb") as handle:
            handle.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = handle.read(min(chunk_size, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    def list(self, prefix: str) -> list[str]:
        """Finished files below the prefix (dot names are temporaries and are skipped)."""
        folder = self.path(prefix)
        if not folder.is_dir():
            return []
        base = prefix.rstrip("/")
        return sorted(f"{base}/{p.relative_to(folder).as_posix()}" for p in folder.rglob("*")
                      if p.is_file() and not any(part.startswith(".")
                                                 for part in p.relative_to(folder).parts))

    def delete(self, key: str) -> None:
        """Remove the file; a missing one is no error."""
        self.path(key).unlink(missing_ok=True)

    def copy(self, source_key: str, target_key: str) -> str:
        """Copy one key's file to another, atomically."""
        return self.put_file(target_key, self.fetch(source_key))

    def move(self, source_key: str, target_key: str) -> str:
        """Rename within the folder: the target appears whole or not at all."""
        source = self.fetch(source_key)
        target = self.path(target_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        return target_key

    def presign(self, key: str, expires: int = 3600) -> str | None:
        """A folder has no URLs of its own."""
        return None

    def describe(self, key: str) -> str:
        """The file's path."""
        return str(self.path(key))
