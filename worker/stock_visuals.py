"""Stock footage for a job's scenes: whether it wants any, from which providers, and the
chosen clips fetched through the safe fetcher and kept by content hash.

`visuals` (request over profile) is generated, stock, uploads or auto: the job's own media
first, then stock when a provider key is set, then generated backgrounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pipeline.render.presets import get_preset
from pipeline.sources.stock import (
    PexelsProvider,
    PixabayProvider,
    SceneNeed,
    StockAsset,
    StockProvider,
    attribution,
    choose_stock,
    credit_line,
)
from pipeline.types import GENERATED_VISUAL, Script, StageError
from store.costs import Usage
from store.secrets import SecretBox, SecretsUnavailable, SecretUnreadable
from store.settings import Settings
from worker.remote_media import RemoteMedia

SPOKEN_WORDS_PER_SECOND = 2.5  # to guess how long a scene is on screen before it is voiced


@dataclass(frozen=True)
class StockChoice:
    """What stock gave the script: its scenes pointed at their clips, the visuals to add
    (after those the job has), why each scene shows what it shows, and the credits."""

    script: Script
    visuals: list[dict[str, Any]]
    reasons: list[dict[str, Any]]
    attribution: list[dict[str, str]]
    credit: str


def _key(settings: Settings, options: dict[str, Any], name: str) -> str | None:
    sealed = (options.get("secrets") or {}).get(name)
    if sealed:
        try:
            return SecretBox.from_settings(settings).open(sealed)
        except (SecretsUnavailable, SecretUnreadable) as exc:
            raise StageError("script", "secret_unreadable",
                             f"the profile's {name} cannot be read: {exc}") from None
    return getattr(settings, name) or None


def stock_providers(settings: Settings, options: dict[str, Any]) -> list[StockProvider]:
    """The providers the job may search, the profile's keys over the server's."""
    providers: list[StockProvider] = []
    pexels = _key(settings, options, "pexels_api_key")
    if pexels:
        providers.append(PexelsProvider(pexels, settings.pexels_base_url,
                                        timeout=settings.fetch_timeout))
    pixabay = _key(settings, options, "pixabay_api_key")
    if pixabay:
        providers.append(PixabayProvider(pixabay, settings.pixabay_base_url,
                                         timeout=settings.fetch_timeout))
    return providers


def wants_stock(options: dict[str, Any], has_own_media: bool) -> bool:
    """Whether the job's visuals should come from stock (its providers decide if they can)."""
    visuals = options.get("visuals") or "auto"
    if visuals == "stock":
        return True
    return visuals == "auto" and not has_own_media


class _CountedSearches:
    """A provider whose searches are counted and timed, for the job's api_costs rows."""

    def __init__(self, provider: StockProvider) -> None:
        self.provider, self.name = provider, provider.name
        self.calls, self.seconds = 0, 0.0

    def search(self, query: str, **kwargs: Any) -> list[StockAsset]:
        started = time.monotonic()
        self.calls += 1
        try:
            return self.provider.search(query, **kwargs)
        finally:
            self.seconds += time.monotonic() - started

    def close(self) -> None:
        self.provider.close()  # type: ignore[attr-defined]


def choose_for_script(settings: Settings, options: dict[str, Any], preset_name: str,
                      script: Script, remote: RemoteMedia, shown_before: int,
                      record_usage: Callable[[Usage], None] = lambda usage: None
                      ) -> StockChoice | None:
    """Stock clips or pictures for each scene, or None when no provider is configured.

    `shown_before` is how many visuals the job has ahead of these (its uploads and the
    source's pictures), so that the scenes' indices point at the right ones.
    """
    providers = [_CountedSearches(p) for p in stock_providers(settings, options)]
    if not providers:
        return None
    preset = get_preset(preset_name)
    needs = [SceneNeed(index=i, terms=scene.search_terms or ((scene.headline,) if
                                                            scene.headline else ()),
                       seconds=max(2.0, len(scene.narration.split()) / SPOKEN_WORDS_PER_SECOND))
             for i, scene in enumerate(script.scenes)]

    def download(asset: StockAsset) -> str:
        return remote.get(asset.url, clips=True).key

    try:
        chosen = choose_stock(needs, providers, language=script.language, width=preset.width,
                              height=preset.height, download=download)
    finally:
        for provider in providers:
            provider.close()
            if provider.calls:  # free, but counted: Pexels allows 200 searches an hour
                record_usage(Usage(provider=provider.name, operation="stock",
                                   units=provider.calls, unit="requests",
                                   seconds=round(provider.seconds, 3)))
    visuals: list[dict[str, Any]] = []
    scenes = list(script.scenes)
    reasons, used = [], []
    for pick in chosen:
        if pick.key is None or pick.asset is None:
            scenes[pick.index] = replace(scenes[pick.index], visuals=(GENERATED_VISUAL,))
            reasons.append({"scene": pick.index, "visual": "generated", "reason": pick.reason})
            continue
        scenes[pick.index] = replace(scenes[pick.index],
                                     visuals=(shown_before + len(visuals),))
        visuals.append({"key": pick.key, "kind": pick.asset.kind,
                        "duration": pick.asset.duration})
        used.append(pick.asset)
        reasons.append({"scene": pick.index, "visual": "stock", "term": pick.term,
                        "provider": pick.asset.provider, "reason": pick.reason})
    return StockChoice(replace(script, scenes=tuple(scenes)), visuals, reasons,
                       [attribution(asset) for asset in used], credit_line(used))
