"""The stock providers a deployment has keys for, built in the order they are asked."""

from __future__ import annotations

import httpx

from pipeline.sources.stock.pexels import PEXELS_BASE_URL, PexelsProvider
from pipeline.sources.stock.pixabay import PIXABAY_BASE_URL, PixabayProvider
from pipeline.sources.stock.types import StockProvider


def build_providers(*, pexels_api_key: str | None = None,
                    pexels_base_url: str = PEXELS_BASE_URL,
                    pixabay_api_key: str | None = None,
                    pixabay_base_url: str = PIXABAY_BASE_URL,
                    client: httpx.Client | None = None,
                    timeout: float = 15.0) -> list[StockProvider]:
    """One provider per key given, Pexels first; none when no key is set.

    With `client`, both share it and the caller closes it; without, each makes its own and
    the caller calls `close()` on each.
    """
    providers: list[StockProvider] = []
    if pexels_api_key:
        providers.append(PexelsProvider(pexels_api_key, pexels_base_url or PEXELS_BASE_URL,
                                        client=client, timeout=timeout))
    if pixabay_api_key:
        providers.append(PixabayProvider(pixabay_api_key, pixabay_base_url or PIXABAY_BASE_URL,
                                         client=client, timeout=timeout))
    return providers
