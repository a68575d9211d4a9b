"""Pexels: video search (`/videos/search`) and photo search (`/v1/search`).

The key goes in the `Authorization` header as it is (Pexels uses no "Bearer" prefix), and
only on requests to this provider's own base URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from pipeline.sources.stock.base import (
    HttpProvider,
    as_dict,
    as_int,
    as_list,
    as_str,
    fit_within,
    get_json,
)
from pipeline.sources.stock.types import PEXELS_LICENCE, Rendition, StockAsset

PEXELS_BASE_URL = "https://api.pexels.com"
MAX_PER_PAGE = 80
# The locales Pexels documents for `locale`, by the ISO 639-1 code scripts are written in.
LOCALES = {
    "en": "en-US", "pt": "pt-BR", "es": "es-ES", "ca": "ca-ES", "de": "de-DE", "it": "it-IT",
    "fr": "fr-FR", "sv": "sv-SE", "id": "id-ID", "pl": "pl-PL", "ja": "ja-JP", "zh": "zh-CN",
    "ko": "ko-KR", "th": "th-TH", "nl": "nl-NL", "hu": "hu-HU", "vi": "vi-VN", "cs": "cs-CZ",
    "da": "da-DK", "fi": "fi-FI", "uk": "uk-UA", "el": "el-GR", "ro": "ro-RO", "nb": "nb-NO",
    "no": "nb-NO", "sk": "sk-SK", "tr": "tr-TR", "ru": "ru-RU",
}
# The photo sizes worth downloading; medium, small and tiny are thumbnails.
_PHOTO_SIZES = ("original", "large2x", "large", "portrait", "landscape")


class PexelsProvider(HttpProvider):
    """Search Pexels for clips and stills."""

    name = "pexels"

    def __init__(self, api_key: str, base_url: str = PEXELS_BASE_URL, *,
                 client: httpx.Client | None = None, timeout: float = 15.0,
                 size: str | None = "small") -> None:
        # size: Pexels' minimum size filter. "small" (HD clips, 4 MP photos) is the lowest
        # named floor, leaving the choice between HD and better to our own ranking.
        if not api_key:
            raise ValueError("PexelsProvider needs an API key")
        self._key = api_key
        self._base = base_url.rstrip("/")
        self._size = size
        super().__init__(client, timeout)

    def __repr__(self) -> str:
        return f"PexelsProvider({self._base!r})"  # never the key

    def search(self, query: str, *, kind: str, orientation: str, language: str,
               per_page: int = 15) -> list[StockAsset]:
        """Search Pexels videos (kind "clip") or photos (kind "still")."""
        params = {"query": query, "orientation": orientation,
                  "per_page": str(max(1, min(per_page, MAX_PER_PAGE)))}
        if self._size:
            params["size"] = self._size
        locale = LOCALES.get(language.lower()) or (language if language in LOCALES.values()
                                                   else None)
        if locale:
            params["locale"] = locale
        path = "/videos/search" if kind == "clip" else "/v1/search"
        data = get_json(self._client, self._base + path, params=params,
                        headers={"Authorization": self._key}, label="Pexels",
                        secret=self._key, timeout=self._timeout)
        if kind == "clip":
            return [a for a in map(_video, as_list(data.get("videos"))) if a is not None]
        return [a for a in map(_photo, as_list(data.get("photos"))) if a is not None]


def _video(raw: Any) -> StockAsset | None:
    video = as_dict(raw)
    renditions = tuple(
        Rendition(as_str(f.get("link")), as_int(f.get("width")), as_int(f.get("height")))
        for f in map(as_dict, as_list(video.get("video_files")))
        # HLS playlists come without a size; only whole files are downloaded.
        if as_str(f.get("file_type")).startswith("video/") and as_str(f.get("link"))
        and as_int(f.get("width")) > 0 and as_int(f.get("height")) > 0)
    asset_id = as_str(video.get("id"))
    if not asset_id or not renditions:
        return None
    largest = max(renditions, key=lambda r: r.width * r.height)
    user = as_dict(video.get("user"))
    duration = video.get("duration")
    return StockAsset(
        provider="pexels", asset_id=asset_id, kind="clip", url=largest.url,
        width=largest.width, height=largest.height,
        duration=float(duration) if isinstance(duration, int | float) else None,
        page_url=as_str(video.get("url")), author=as_str(user.get("name")),
        author_url=as_str(user.get("url")), licence=PEXELS_LICENCE, renditions=renditions)


def _photo(raw: Any) -> StockAsset | None:
    photo = as_dict(raw)
    width, height = as_int(photo.get("width")), as_int(photo.get("height"))
    src = as_dict(photo.get("src"))
    renditions = tuple(Rendition(url, *_src_size(url, width, height))
                       for url in (as_str(src.get(size)) for size in _PHOTO_SIZES) if url)
    renditions = tuple(r for r in renditions if r.width > 0 and r.height > 0)
    asset_id = as_str(photo.get("id"))
    if not asset_id or not renditions:
        return None
    largest = max(renditions, key=lambda r: r.width * r.height)
    return StockAsset(
        provider="pexels", asset_id=asset_id, kind="still", url=largest.url,
        width=largest.width, height=largest.height, duration=None,
        page_url=as_str(photo.get("url")), author=as_str(photo.get("photographer")),
        author_url=as_str(photo.get("photographer_url")), licence=PEXELS_LICENCE,
        renditions=renditions)


def _src_size(url: str, width: int, height: int) -> tuple[int, int]:
    """The size a `src` URL delivers: its w, h, dpr and fit say how the original is scaled
    (large2x is "?dpr=2&h=650&w=940", portrait "?fit=crop&h=1200&w=800")."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    try:
        dpr = float(query.get("dpr", "1"))
        box_w = int(query["w"]) if "w" in query else 0
        box_h = int(query["h"]) if "h" in query else 0
    except ValueError:
        return (0, 0)
    if not box_w and not box_h:
        return (width, height)
    if query.get("fit") == "crop" and box_w and box_h:
        return (round(box_w * dpr), round(box_h * dpr))
    # One side given: the other follows the picture's aspect ratio.
    box_w = round(box_w * dpr) if box_w else width
    box_h = round(box_h * dpr) if box_h else height
    return fit_within(width, height, box_w, box_h)
