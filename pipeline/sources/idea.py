"""Read a job's source into what the script stage works from."""

from __future__ import annotations

from typing import Any, Protocol

from pipeline.types import IdeaSource, StageError


class SourceReader(Protocol):
    """Turns one type of source (as the API stored it) into the script stage's input."""

    type: str

    def read(self, source: dict[str, Any], language: str | None) -> IdeaSource:
        """Args:
            source: the job's source as submitted, already validated by the API.
            language: the job's language, or None to detect it.
        Returns:
            The normalised source.
        """


class IdeaReader:
    """`{"type": "idea", "idea": "…"}`."""

    type = "idea"

    def read(self, source: dict[str, Any], language: str | None) -> IdeaSource:
        """The idea text and language."""
        return IdeaSource(idea=source["idea"], language=language)


READERS: dict[str, SourceReader] = {reader.type: reader for reader in (IdeaReader(),)}


def read_source(source: dict[str, Any], language: str | None = None) -> IdeaSource:
    """The normalised source of a job; a type without a reader fails the script stage."""
    reader = READERS.get(str(source.get("type")))
    if reader is None:
        raise StageError("script", "unsupported_source",
                         f"source type {source.get('type')!r} is not supported yet")
    return reader.read(source, language)
