"""What the stock search passes around: the assets found, what a scene needs, what it got."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

KINDS = ("clip", "still")
PEXELS_LICENCE = "Pexels License"
PIXABAY_LICENCE = "Pixabay Content License"
# Codes a caller may retry later; the others need someone to change a key or a setting.
RETRYABLE_CODES = frozenset({"stock_unavailable", "stock_rate_limited"})


def orientation_of(width: int, height: int) -> str:
    """Return "portrait", "square" or "landscape" for a frame of width × height."""
    if height > width:
        return "portrait"
    if height == width:
        return "square"
    return "landscape"


@dataclass(frozen=True)
class Rendition:
    """One file of an asset in one size (a Pexels video_file, a Pixabay `videos.large`)."""

    url: str
    width: int
    height: int


@dataclass(frozen=True)
class StockAsset:
    """A clip or still found on a stock site, with what its licence asks us to credit.

    `url`, `width` and `height` name the file to download: from a search, the largest
    rendition; after `choose_stock`, the rendition that suits the preset. `renditions` lists
    every size the site offers, so that the choice can be made per preset.
    """

    provider: str  # "pexels" | "pixabay"
    asset_id: str
    kind: str  # "clip" | "still"
    url: str
    width: int
    height: int
    duration: float | None  # seconds; clips only
    page_url: str
    author: str
    author_url: str
    licence: str
    renditions: tuple[Rendition, ...] = ()

    @property
    def ref(self) -> tuple[str, str]:
        """What makes an asset the same asset, whatever rendition is picked."""
        return (self.provider, self.asset_id)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StockAsset:
        """Inverse of `to_dict`."""
        renditions = tuple(Rendition(**r) for r in data.get("renditions") or ())
        return cls(**{**data, "renditions": renditions})


class StockProvider(Protocol):
    """A stock site that can be searched; it never downloads the files it finds."""

    name: str

    def search(self, query: str, *, kind: str, orientation: str, language: str,
               per_page: int = 15) -> list[StockAsset]:
        """Search the site.

        Args:
            query: the words to look for, as the script wrote them.
            kind: "clip" (videos) or "still" (photos).
            orientation: "portrait", "landscape" or "square" (a hint; the site may ignore it).
            language: ISO 639-1 code the query is written in.
            per_page: how many results to ask for (clamped to what the site accepts).

        Returns:
            The assets in the site's order (most relevant first); empty when none.

        Raises:
            StockError: the site refused the key, rate-limited us, or could not be reached.
        """
        ...


class StockError(Exception):
    """A stock site did not answer a search: `code` says why in one word, `message` in a
    sentence that never contains the API key."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def retryable(self) -> bool:
        """Whether the same search may work later without anyone changing anything."""
        return self.code in RETRYABLE_CODES


@dataclass(frozen=True)
class SceneNeed:
    """What one scene wants from stock: the terms to try (most specific first) and how long
    it is on screen."""

    index: int
    terms: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class SceneStock:
    """What one scene got: an asset and its media key, or None and why it fell back."""

    index: int
    asset: StockAsset | None
    key: str | None  # the media key `download` returned; None when falling back
    term: str | None  # the term that found the asset
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SceneStock:
        """Inverse of `to_dict`."""
        asset = data.get("asset")
        return cls(index=data["index"], asset=StockAsset.from_dict(asset) if asset else None,
                   key=data.get("key"), term=data.get("term"), reason=data.get("reason", ""))
