"""From rows to the feed's items: variants merged per group, duplicates and stock settled.

Rows without a group go out as soon as they are read. Variants are held (as the small Product
they already are) until the feed ends, because the variants of one group need not be adjacent;
then each group goes out as one product, in the order its first variant appeared.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal

from pipeline.sources.feeds.model import FeedItem
from pipeline.sources.product import Product

# What may sit between a product's name and its variant part: "Tee - Red / M", "Tee (Red, M)".
_SEPARATORS = " \t-–—/|,:;([{"
_OUT_OF_STOCK = "out of stock"


def group_items(rows: Iterable[FeedItem], *, include_out_of_stock: bool = False
                ) -> Iterator[FeedItem]:
    """The feed's items from its rows (each keyed by position): one per product or group."""
    first_seen: dict[str, str] = {}  # product id -> where it was first read
    ungrouped: set[str] = set()
    groups: dict[str, list[Product]] = {}
    for row in rows:
        product = row.product
        if product is None:
            yield row
            continue
        if product.id in first_seen:
            yield FeedItem(row.key, None, "invalid", f"{row.key}: duplicate id {product.id} "
                           f"(first in {first_seen[product.id]})", product.title)
            continue
        first_seen[product.id] = row.key
        if row.status != "ok":
            yield FeedItem(product.id, None, row.status, row.reason, product.title)
        elif product.group_id:
            groups.setdefault(product.group_id, []).append(product)
        else:
            ungrouped.add(product.id)
            yield _stocked(product, include_out_of_stock)
    for group_id, variants in groups.items():
        if group_id in ungrouped:
            where = first_seen[group_id]
            yield FeedItem(f"group {group_id}", None, "invalid", f"group {group_id}: the same "
                           f"id as the product in {where}", variants[0].title)
            continue
        yield _stocked(merge_variants(group_id, variants), include_out_of_stock)


def _stocked(product: Product, include_out_of_stock: bool) -> FeedItem:
    key = product.group_id or product.id
    if product.available or include_out_of_stock:
        return FeedItem(key, product, title=product.title)
    return FeedItem(key, None, "skipped", _OUT_OF_STOCK, product.title)


def merge_variants(group_id: str, variants: Sequence[Product]) -> Product:
    """One product standing for all variants of a group (sizes, colours)."""
    available = [v for v in variants if v.available]
    priced = [v for v in available or variants if v.price is not None]
    # Cheapest by what a shopper pays; min keeps the first of equals, so the result is stable.
    cheapest = min(priced, key=_paid) if priced else None
    return Product(
        id=group_id, title=common_title([v.title for v in variants]),
        description=next((v.description for v in variants if v.description), ""),
        price=cheapest.price if cheapest else None,
        sale_price=cheapest.sale_price if cheapest else None,
        images=tuple(dict.fromkeys(image for v in variants for image in v.images)),
        brand=next((v.brand for v in variants if v.brand), ""),
        link=next((v.link for v in variants if v.link), ""),
        available=bool(available), group_id=group_id)


def _paid(product: Product) -> Decimal:
    money = product.sale_price or product.price
    return money.amount if money else Decimal(0)


def common_title(titles: Sequence[str]) -> str:
    """The title the variants share, without its variant part ("Tee - Red / M" -> "Tee")."""
    if not titles:
        return ""
    prefix = os.path.commonprefix(list(titles))
    if all(len(title) == len(prefix) for title in titles):
        return prefix  # all the same: nothing to strip
    if prefix and prefix[-1].isalnum() and any(
            len(t) > len(prefix) and t[len(prefix)].isalnum() for t in titles):
        prefix = re.sub(r"\w+$", "", prefix)  # stopped inside a word: drop the part-word
    # An opening bracket left unclosed starts the variant part: "Tee (Red, " -> "Tee ".
    for opening, closing in ("()", "[]", "{}"):
        if prefix.count(opening) > prefix.count(closing):
            prefix = prefix[:prefix.rfind(opening)]
    prefix = prefix.rstrip(_SEPARATORS)
    return prefix if len(prefix) >= 3 else titles[0]
