"""Media storage behind one interface: a local folder or an S3-compatible bucket."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from store.media.base import (
    InvalidKey,
    MediaMissing,
    MediaStorage,
    ObjectInfo,
    artifact_key,
    check_key,
)
from store.media.factory import build_media
from store.media.local import LocalMediaStorage

if TYPE_CHECKING:
    from store.media.s3 import S3MediaStorage

__all__ = ["InvalidKey", "LocalMediaStorage", "MediaMissing", "MediaStorage", "ObjectInfo",
           "S3MediaStorage", "artifact_key", "build_media", "check_key"]


def __getattr__(name: str) -> Any:
    # S3MediaStorage imports boto3; load it only for processes that ask for it.
    if name == "S3MediaStorage":
        from store.media.s3 import S3MediaStorage

        return S3MediaStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
