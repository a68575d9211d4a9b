"""Artifact storage: files under deterministic keys `<job_id>/<stage>/<file>`."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path, PurePosixPath


class InvalidKey(ValueError):
    """A key that would escape the media root or is not relative."""


def artifact_key(job_id: str, stage: str, name: str) -> str:
    """The key of one stage's file for one job."""
    return f"{job_id}/{stage}/{name}"


class LocalMediaStorage:
    """A folder (local disk, a shared volume or NFS) that API and workers all see."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """Where a key lives on disk."""
        pure = PurePosixPath(key)
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise InvalidKey(f"invalid media key {key!r}")
        return self.root.joinpath(*pure.parts)

    def exists(self, key: str) -> bool:
        """Whether a finished artifact is stored under the key."""
        return self.path(key).is_file()

    def put_file(self, key: str, source: Path) -> str:
        """Copy a file in under the key, atomically: a crash never leaves a half file."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            shutil.copyfile(source, temporary)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        return key

    def scratch_dir(self, job_id: str, stage: str) -> Path:
        """A fresh working folder for one run of a stage (removed with `discard_scratch`)."""
        folder = self.root / ".scratch" / job_id / f"{stage}-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def discard_scratch(self, folder: Path) -> None:
        """Remove a working folder made by `scratch_dir`."""
        shutil.rmtree(folder, ignore_errors=True)
