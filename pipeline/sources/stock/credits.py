"""What a video must say about the stock it shows: one credit line, one record per asset."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.sources.stock.types import StockAsset

_NAMES = {"pexels": "Pexels", "pixabay": "Pixabay"}


def credit_line(assets: Iterable[StockAsset | None]) -> str:
    """One line crediting every site and author, in the order they first appear:
    "Footage: Pexels (Jane Doe, John Roe), Pixabay (ana)"; "" when there is no asset."""
    authors: dict[str, list[str]] = {}
    clips = False
    for asset in assets:
        if asset is None:  # a scene that fell back
            continue
        clips = clips or asset.kind == "clip"
        names = authors.setdefault(asset.provider, [])
        if asset.author and asset.author not in names:
            names.append(asset.author)
    if not authors:
        return ""
    sites = [f"{_site(provider)} ({', '.join(names)})" if names else _site(provider)
             for provider, names in authors.items()]
    return f"{'Footage' if clips else 'Photos'}: {', '.join(sites)}"


def attribution(asset: StockAsset) -> dict[str, str]:
    """The fields a licence record keeps for one asset (all text, JSON-ready)."""
    return {"provider": asset.provider, "page_url": asset.page_url, "author": asset.author,
            "author_url": asset.author_url, "licence": asset.licence,
            "asset_id": asset.asset_id, "kind": asset.kind}


def _site(provider: str) -> str:
    return _NAMES.get(provider, provider.capitalize())
