"""Shopify's products.json: one item per product, its variants already grouped by Shopify.

products.json names no currency and no shop address, so prices take the caller's default
currency and the link stays empty; the product id (or its handle) is the key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from pipeline.sources.feeds.fields import load_json, row_item, text
from pipeline.sources.feeds.model import FeedError, FeedItem
from pipeline.sources.product import parse_price


def read_shopify(path: Path, *, currency: str = "") -> Iterator[FeedItem]:
    """Every product of a products.json document (`{"products": [...]}` or a bare list)."""
    data = load_json(path)
    products = data.get("products") if isinstance(data, dict) else data
    if not isinstance(products, list):
        raise FeedError("invalid_feed", f"{path.name}: expected a \"products\" list")
    for number, raw in enumerate(products, start=1):
        where = f"item {number}"
        if not isinstance(raw, dict):
            yield FeedItem(where, None, "invalid", f"{where}: not a JSON object")
            continue
        yield _product(where, raw, currency)


def _product(where: str, raw: Mapping[str, Any], currency: str) -> FeedItem:
    identity = text(raw.get("id")) or text(raw.get("handle"))
    variants = [v for v in raw.get("variants") or [] if isinstance(v, dict)]
    stocked = [_available(v) for v in variants]
    # The price shown is what a shopper can buy now: the cheapest variant in stock, or the
    # cheapest of all when none is.
    candidates = [v for v, ok in zip(variants, stocked, strict=True) if ok] or variants
    prices: list[tuple[Decimal, int]] = []
    for position, variant in enumerate(candidates):
        value = text(variant.get("price"))
        if not value:
            continue
        money = parse_price(value, currency)
        if money is None:
            label = f"{where} (id {identity})" if identity else where
            return FeedItem(where, None, "invalid", f"{label}: variant {text(variant.get('id'))}"
                            f" price {value!r} has no number", text(raw.get("title")))
        prices.append((money.amount, position))
    price = sale = None
    if prices:
        cheapest = candidates[min(prices)[1]]
        price = text(cheapest.get("price"))
        compare = parse_price(text(cheapest.get("compare_at_price")) or None, currency)
        if compare is not None and compare.amount > min(prices)[0]:
            price, sale = text(cheapest.get("compare_at_price")), price
    return row_item(
        where, id=identity, title=text(raw.get("title")),
        description=text(raw.get("body_html")), price=price, sale_price=sale, currency=currency,
        images=_images(raw), brand=text(raw.get("vendor")),
        available=any(stocked) if variants else True)


def _available(variant: Mapping[str, Any]) -> bool:
    if "available" in variant:
        return bool(variant["available"])
    if "inventory_quantity" in variant:
        # Untracked stock or "continue selling when out of stock" can always be bought.
        if variant.get("inventory_management", "shopify") is None:
            return True
        if variant.get("inventory_policy") == "continue":
            return True
        try:
            return int(variant["inventory_quantity"] or 0) > 0
        except (TypeError, ValueError):
            return True
    return True  # products.json without stock data: Shopify lists only what it sells


def _images(raw: Mapping[str, Any]) -> list[str]:
    images = [i for i in raw.get("images") or [] if isinstance(i, dict)]
    # Ordered by position where Shopify gives one; images without keep their place after.
    ordered = sorted(enumerate(images), key=lambda pair: (
        (0, pair[1]["position"], pair[0]) if isinstance(pair[1].get("position"), int)
        else (1, 0, pair[0])))
    urls = [text(image.get("src")) for _, image in ordered]
    main = raw.get("image")
    if isinstance(main, dict) and text(main.get("src")):
        urls.insert(0, text(main.get("src")))
    return urls
