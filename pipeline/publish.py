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
