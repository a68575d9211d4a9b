"""The publish stage: hand the finished video to its destinations (a local folder for now)."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Publication:
    """Where a destination put the video."""

    destination: str
    location: str


class Publisher(Protocol):
    """A place finished videos go."""

    name: str

    def available(self) -> bool:
        """Whether this destination is configured."""

    def publish(self, video: Path, sidecar: dict[str, Any], name: str) -> Publication:
        """Deliver the video and its metadata.

        Args:
            video: the finished MP4.
            sidecar: script, captions and durations, as JSON-ready data.
            name: a stable name for this publication (the job id); publishing the same
                name again must not publish twice.
        Returns:
            Where the video went.
        """


def _atomic_copy(source: Path, target: Path) -> None:
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


class ExportFolderPublisher:
    """Copies `<name>.mp4` and `<name>.json` into a folder; a retry replaces, never duplicates."""

    name = "export_folder"

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def available(self) -> bool:
        """Always: the folder is created when missing."""
        return True

    def publish(self, video: Path, sidecar: dict[str, Any], name: str) -> Publication:
        """Write the sidecar first and the video last, so a visible video is complete."""
        self.folder.mkdir(parents=True, exist_ok=True)
        sidecar_path = self.folder / f"{name}.json"
        temporary = sidecar_path.with_name(f".{sidecar_path.name}.part")
        temporary.write_text(json.dumps(sidecar, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(temporary, sidecar_path)
        target = self.folder / f"{name}.mp4"
        if not (target.is_file() and target.stat().st_size == video.stat().st_size):
            _atomic_copy(video, target)
        return Publication(destination=self.name, location=str(target))


class ExportSink(Protocol):
    """Where StoreExportPublisher writes: media storage, by key."""

    def put_file(self, key: str, source: Path) -> str:
        """Store a file under the key, atomically."""

    def put_bytes(self, key: str, data: bytes) -> str:
        """Store bytes under the key, atomically."""


class StoreExportPublisher:
    """Puts `<prefix>/<name>.mp4` and `.json` into media storage (a bucket or the media folder).

    Each object appears whole or not at all, and publishing the same name again replaces it.
    """

    name = "export_store"

    def __init__(self, sink: ExportSink, prefix: str = "exports") -> None:
        self.sink = sink
        self.prefix = prefix.strip("/")

    def available(self) -> bool:
        """Always: media storage is always configured."""
        return True

    def publish(self, video: Path, sidecar: dict[str, Any], name: str) -> Publication:
        """Write the sidecar first and the video last, so a visible video is complete."""
        self.sink.put_bytes(f"{self.prefix}/{name}.json",
                            json.dumps(sidecar, ensure_ascii=False, indent=2).encode("utf-8"))
        key = self.sink.put_file(f"{self.prefix}/{name}.mp4", video)
        return Publication(destination=self.name, location=key)
