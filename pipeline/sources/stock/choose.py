"""Stock footage per scene: search each scene's terms, judge what comes back, download one.

A scene prefers, in this order: an asset of the preferred kind that fits the frame (its
orientation, at least its resolution and, for a clip, at least the scene's length), one of
the other kind that fits, and then the closest of what was found (orientation weighing most).
Searches stop at the first fit, and each (provider, query, kind, language) is asked once per
video, so a video costs a few API calls, not one per scene per term per site.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from pipeline.sources.stock.types import (
    KINDS,
    Rendition,
    SceneNeed,
    SceneStock,
    StockAsset,
    StockError,
    StockProvider,
    orientation_of,
)

PER_PAGE = 15
# A video never makes more searches than this, whatever fails: Pexels allows 200 an hour.
SEARCH_BUDGET = 40
# A refused key or a rate limit will not change within one video; other failures may be a
# passing hiccup, so a provider gets a second chance before it is left out.
_STOP_AT_ONCE = frozenset({"stock_unauthorized", "stock_rate_limited"})
_MAX_FAILURES = 2
_FALLBACK = "a generated background instead"
_MAX_NOTE = 300


def choose_stock(needs: Sequence[SceneNeed], providers: Sequence[StockProvider], *,
                 language: str, width: int, height: int,
                 download: Callable[[StockAsset], str], prefer: str = "clip",
                 max_searches: int = SEARCH_BUDGET) -> list[SceneStock]:
    """Pick and download one stock asset per scene, never the same one twice in a video.

    `download(asset)` fetches the asset's file and returns its media key; if it raises, the
    next candidate is tried. A scene with nothing usable gets asset None and a reason.
    """
    if prefer not in KINDS:
        raise ValueError(f"prefer: {prefer!r} is not one of {', '.join(KINDS)}")
    if width <= 0 or height <= 0:
        raise ValueError(f"width, height: {width}x{height} is not a frame size")
    chooser = _Chooser(providers, language=language, frame=(width, height), download=download,
                       prefer=prefer, max_searches=max_searches)
    return [chooser.choose(need) for need in needs]


def pick_rendition(asset: StockAsset, width: int, height: int) -> StockAsset:
    """`asset` pointing at its rendition that suits a width × height frame best: the smallest
    that covers the frame (its own orientation first), else the smallest whose short side
    reaches the frame's, else the largest there is."""
    if not asset.renditions:
        return asset
    frame = orientation_of(width, height)

    def area(r: Rendition) -> int:
        return r.width * r.height

    covering = [r for r in asset.renditions if r.width >= width and r.height >= height]
    short_enough = [r for r in asset.renditions
                    if min(r.width, r.height) >= min(width, height)]
    if covering:
        best = min(covering, key=lambda r: (orientation_of(r.width, r.height) != frame, area(r)))
    elif short_enough:
        best = min(short_enough, key=area)
    else:
        best = max(asset.renditions, key=area)
    return replace(asset, url=best.url, width=best.width, height=best.height)


@dataclass(frozen=True)
class _Fit:
    """How an asset (at its chosen rendition) measures up to the frame and the scene."""

    orientation: bool
    resolution: bool
    duration: bool

    @property
    def perfect(self) -> bool:
        return self.orientation and self.resolution and self.duration


def _judge(asset: StockAsset, frame: tuple[int, int], seconds: float) -> _Fit:
    width, height = frame
    wanted = orientation_of(width, height)
    # A square frame crops portrait and landscape alike, and stock is rarely square.
    orientation = wanted == "square" or orientation_of(asset.width, asset.height) == wanted
    resolution = asset.width >= width and asset.height >= height
    duration = asset.kind != "clip" or (asset.duration is not None and asset.duration >= seconds)
    return _Fit(orientation, resolution, duration)


def _shortcomings(asset: StockAsset, fit: _Fit, frame: tuple[int, int], seconds: float) -> str:
    width, height = frame
    faults = []
    if not fit.orientation:
        faults.append(f"{orientation_of(asset.width, asset.height)}, not "
                      f"{orientation_of(width, height)}")
    if not fit.resolution:
        faults.append(f"under {width}x{height}")
    if not fit.duration:
        faults.append(f"shorter than the scene's {seconds:g} s" if asset.duration is not None
                      else "length unknown")
    return ", ".join(faults)


@dataclass(frozen=True)
class _Candidate:
    rank: tuple[bool, bool, bool, bool, int]
    asset: StockAsset
    term: str
    language: str
    fit: _Fit


class _Chooser:
    """The state one video's choice shares across its scenes: cache, budget, used assets."""

    def __init__(self, providers: Sequence[StockProvider], *, language: str,
                 frame: tuple[int, int], download: Callable[[StockAsset], str], prefer: str,
                 max_searches: int) -> None:
        self.providers = list(providers)
        self.language = (language or "en").strip().lower()
        self.languages = ((self.language,) if self.language.split("-")[0] == "en"
                          else (self.language, "en"))
        self.frame = frame
        self.orientation = orientation_of(*frame)
        self.download = download
        self.kinds = (prefer, *(k for k in KINDS if k != prefer))
        self.searches_left = max_searches
        self.max_searches = max_searches
        self.cache: dict[tuple[str, str, str, str], list[StockAsset]] = {}
        self.disabled: dict[str, str] = {}
        self.failures: Counter[str] = Counter()
        self.used: set[tuple[str, str]] = set()
        self.refused: set[tuple[str, str]] = set()

    def choose(self, need: SceneNeed) -> SceneStock:
        terms = _clean(need.terms)
        if not terms:
            return SceneStock(need.index, None, None, None, f"no search terms; {_FALLBACK}")
        notes: list[str] = []
        closest: dict[tuple[str, str], _Candidate] = {}
        seen = tried = False
        for kind in self.kinds:
            for term, language, provider in self._queries(terms):
                for asset in self._search(provider, term, kind, language, notes):
                    seen = True
                    if asset.ref in self.used or asset.ref in self.refused:
                        continue  # another scene shows it, or its file could not be had
                    fitted = pick_rendition(asset, *self.frame)
                    fit = _judge(fitted, self.frame, need.seconds)
                    if fit.perfect:
                        tried = True
                        got = self._take(need, fitted, term, language, fit, notes)
                        if got is not None:
                            return got
                    elif asset.ref not in closest:
                        rank = (not fit.orientation, kind != self.kinds[0], not fit.resolution,
                                not fit.duration, len(closest))
                        closest[asset.ref] = _Candidate(rank, fitted, term, language, fit)
        for candidate in sorted(closest.values(), key=lambda c: c.rank):
            tried = True
            got = self._take(need, candidate.asset, candidate.term, candidate.language,
                             candidate.fit, notes)
            if got is not None:
                return got
        return SceneStock(need.index, None, None, None,
                          self._fallback(terms, seen=seen, tried=tried, notes=notes))

    def _queries(self, terms: Sequence[str]) -> Iterator[tuple[str, str, StockProvider]]:
        for term in terms:
            for language in self.languages:
                for provider in self.providers:
                    # Checked at each step: a provider can be left out halfway through.
                    if provider.name not in self.disabled:
                        yield term, language, provider

    def _search(self, provider: StockProvider, term: str, kind: str, language: str,
                notes: list[str]) -> list[StockAsset]:
        key = (provider.name, term.casefold(), kind, language)
        if key in self.cache:
            return self.cache[key]
        if self.searches_left <= 0:
            note = f"stopped searching after {self.max_searches} searches for this video"
            if note not in notes:
                notes.append(note)
            return []
        self.searches_left -= 1
        try:
            found = provider.search(term, kind=kind, orientation=self.orientation,
                                    language=language, per_page=PER_PAGE)
        except StockError as error:
            found = []
            self.failures[provider.name] += 1
            if error.code in _STOP_AT_ONCE or self.failures[provider.name] >= _MAX_FAILURES:
                self.disabled[provider.name] = error.code
                notes.append(f"{error.message} ({error.code}); {provider.name} is not asked "
                             "again for this video")
            else:
                notes.append(f"{error.message} ({error.code})")
        self.cache[key] = found
        return found

    def _take(self, need: SceneNeed, asset: StockAsset, term: str, language: str, fit: _Fit,
              notes: list[str]) -> SceneStock | None:
        try:
            key = self.download(asset)
        except Exception as error:  # the caller's downloader: any failure means "next one"
            self.refused.add(asset.ref)
            notes.append(f"download refused for {_label(asset)}: {_brief(error)}")
            return None
        self.used.add(asset.ref)
        size = f"{asset.width}x{asset.height}"
        if asset.kind == "clip" and asset.duration is not None:
            size += f", {asset.duration:g} s"
        searched = f" (searched in {language})" if language != self.language else ""
        reason = f"{_label(asset)} for '{term}'{searched}: {size}"
        if not fit.perfect:
            reason += (f"; the closest there was "
                       f"({_shortcomings(asset, fit, self.frame, need.seconds)})")
        return SceneStock(need.index, asset, key, term, "; ".join([reason, *notes]))

    def _fallback(self, terms: Sequence[str], *, seen: bool, tried: bool,
                  notes: list[str]) -> str:
        if not self.providers:
            head = "no stock provider configured"
        elif tried:
            head = f"nothing usable for {_either(terms)}"
        elif seen:
            head = (f"every result for {_either(terms)} is shown by an earlier scene or "
                    "could not be downloaded")
        elif self.disabled and len(self.disabled) == len({p.name for p in self.providers}):
            head = f"no stock provider left to ask for {_either(terms)}"
        else:
            head = f"no result for {_either(terms)}"
        return "; ".join([f"{head}; {_FALLBACK}", *notes])


def _clean(terms: Sequence[str]) -> list[str]:
    """The terms without blanks and repeats, in their order (most specific first)."""
    out: list[str] = []
    for term in terms:
        text = " ".join(str(term).split())
        if text and text.casefold() not in {t.casefold() for t in out}:
            out.append(text)
    return out


def _either(terms: Sequence[str]) -> str:
    quoted = [f"'{t}'" for t in terms]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _label(asset: StockAsset) -> str:
    return f"{asset.provider} {asset.kind} {asset.asset_id}"


def _brief(error: Exception) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= _MAX_NOTE else text[: _MAX_NOTE - 1] + "…"
