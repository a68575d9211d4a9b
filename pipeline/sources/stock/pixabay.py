"""Pixabay: image search (`/?key=…`) and video search (`/videos/?key=…`).

Pixabay takes its key in the query string, so the key reaches only this provider's own base
URL: the request is never redirected, and error messages have it taken out.
"""

from __future__ import annotations

from typing import Any

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
from pipeline.sources.stock.types import PIXABAY_LICENCE, Rendition, StockAsset

PIXABAY_BASE_URL = "https://pixabay.com/api"
# Pixabay answers 400 for a per_page outside 3-200.
MIN_PER_PAGE, MAX_PER_PAGE = 3, 200
MAX_QUERY_CHARS = 100  # Pixabay: "may not exceed 100 characters"
LANGUAGES = frozenset({"cs", "da", "de", "en", "es", "fr", "id", "it", "hu", "nl", "no", "pl",
                       "pt", "ro", "sk", "fi", "sv", "tr", "vi", "th", "bg", "ru", "el", "ja",
                       "ko", "zh"})
# Pixabay has no square filter; "all" lets the chooser crop whichever comes.
_ORIENTATIONS = {"portrait": "vertical", "landscape": "horizontal", "square": "all"}
# Image URLs and the box each is scaled into; fullHDURL and imageURL come only to
# accounts approved for full resolution.
_IMAGE_SIZES = (("imageURL", 0), ("fullHDURL", 1920), ("largeImageURL", 1280))
_VIDEO_SIZES = ("large", "medium", "small", "tiny")


class PixabayProvider(HttpProvider):
    """Search Pixabay for clips and stills."""

    name = "pixabay"

    def __init__(self, api_key: str, base_url: str = PIXABAY_BASE_URL, *,
                 client: httpx.Client | None = None, timeout: float = 15.0) -> None:
        if not api_key:
            raise ValueError("PixabayProvider needs an API key")
        self._key = api_key
        self._base = base_url.rstrip("/")
        super().__init__(client, timeout)

    def __repr__(self) -> str:
        return f"PixabayProvider({self._base!r})"  # never the key

    def search(self, query: str, *, kind: str, orientation: str, language: str,
               per_page: int = 15) -> list[StockAsset]:
        """Search Pixabay videos (kind "clip") or photos (kind "still")."""
        params = {"key": self._key, "q": query[:MAX_QUERY_CHARS],
                  "per_page": str(max(MIN_PER_PAGE, min(per_page, MAX_PER_PAGE))),
                  "safesearch": "true"}
        if language.lower() in LANGUAGES:
            params["lang"] = language.lower()
        if kind == "clip":
            # The video search has no orientation filter; the chooser judges each clip.
            url = self._base + "/videos/"
            params["video_type"] = "film"
        else:
            url = self._base + "/"
            params["image_type"] = "photo"
            params["orientation"] = _ORIENTATIONS.get(orientation, "all")
        data = get_json(self._client, url, params=params, headers={}, label="Pixabay",
                        secret=self._key, timeout=self._timeout)
        parse = _video if kind == "clip" else _image
        return [a for a in map(parse, as_list(data.get("hits"))) if a is not None]


def _video(raw: Any) -> StockAsset | None:
    hit = as_dict(raw)
    videos = as_dict(hit.get("videos"))
    # A size Pixabay does not have comes with an empty url and 0 × 0.
    renditions = tuple(
        Rendition(as_str(v.get("url")), as_int(v.get("width")), as_int(v.get("height")))
        for v in (as_dict(videos.get(size)) for size in _VIDEO_SIZES)
        if as_str(v.get("url")) and as_int(v.get("width")) > 0 and as_int(v.get("height")) > 0)
    duration = hit.get("duration")
    return _asset(hit, "clip", renditions,
                  float(duration) if isinstance(duration, int | float) else None)


def _image(raw: Any) -> StockAsset | None:
    hit = as_dict(raw)
    width, height = as_int(hit.get("imageWidth")), as_int(hit.get("imageHeight"))
    renditions = [Rendition(as_str(hit.get(field)),
                            *fit_within(width, height, box or width, box or height))
                  for field, box in _IMAGE_SIZES if as_str(hit.get(field))]
    if as_str(hit.get("webformatURL")):
        renditions.append(Rendition(as_str(hit.get("webformatURL")),
                                    as_int(hit.get("webformatWidth")),
                                    as_int(hit.get("webformatHeight"))))
    return _asset(hit, "still", tuple(r for r in renditions if r.width > 0 and r.height > 0),
                  None)


def _asset(hit: dict[str, Any], kind: str, renditions: tuple[Rendition, ...],
           duration: float | None) -> StockAsset | None:
    asset_id = as_str(hit.get("id"))
    if not asset_id or not renditions:
        return None
    largest = max(renditions, key=lambda r: r.width * r.height)
    user, user_id = as_str(hit.get("user")), as_str(hit.get("user_id"))
    return StockAsset(
        provider="pixabay", asset_id=asset_id, kind=kind, url=largest.url,
        width=largest.width, height=largest.height, duration=duration,
        page_url=as_str(hit.get("pageURL")), author=user,
        author_url=f"https://pixabay.com/users/{user}-{user_id}/" if user and user_id else "",
        licence=PIXABAY_LICENCE, renditions=renditions)
