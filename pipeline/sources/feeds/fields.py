"""The rules every feed format shares for turning one row's text into a Product.

Each format reader pulls its raw values out and hands them to `row_item`, so that what counts
as a usable row (a title; an id or link; prices that are numbers when present) is the same
whatever the feed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.sources.feeds.model import FeedError, FeedItem
from pipeline.sources.product import Product, html_to_text, parse_price

# Image URLs can contain commas themselves (CDN transformations such as "w_400,h_400"), so a
# list is only split at a comma that starts the next URL.
_IMAGE_SEPARATOR = re.compile(r"\s*,\s*(?=(?:https?:)?//)")
# Merchant spells it "out of stock" or "out_of_stock", WooCommerce "outofstock"; a generic CSV
# may say "sold out", "no" or give a quantity of 0. Preorder and backorder can still be bought.
_UNAVAILABLE = {"out_of_stock", "outofstock", "sold_out", "soldout", "unavailable", "no",
                "false", "0"}


def one_line(markup: str) -> str:
    """Text of a title or name, which may carry HTML or entities, on one line."""
    return " ".join(html_to_text(markup).split())


def split_images(value: str) -> list[str]:
    """The URLs of a comma-separated image list, in order."""
    return [url for url in _IMAGE_SEPARATOR.split(value.strip()) if url]


def is_available(value: str) -> bool:
    """Whether an availability value still lets a shopper buy; empty means yes."""
    return re.sub(r"[\s-]+", "_", value.strip().lower()) not in _UNAVAILABLE


def unique(values: Iterable[str]) -> tuple[str, ...]:
    """Non-empty values, stripped, first occurrence kept."""
    return tuple(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def text(value: Any) -> str:
    """A JSON or CSV value as stripped text; None and containers become ""."""
    if value is None or isinstance(value, dict | list | bool):
        return ""
    return str(value).strip()


def row_item(where: str, *, id: str, title: str, link: str = "", description: str = "",
             price: str | None = None, sale_price: str | None = None, currency: str = "",
             images: Iterable[str] = (), brand: str = "", available: bool = True,
             group_id: str = "") -> FeedItem:
    """One row as a FeedItem keyed by its position: a Product, or why the row is unusable."""
    clean_title = one_line(title)
    label = f"{where} (id {id})" if id else where
    if not clean_title:
        return FeedItem(where, None, "invalid", f"{label}: no title")
    if not id and not link.strip():
        return FeedItem(where, None, "invalid", f"{where}: no id or link to identify it",
                        clean_title)
    amounts = []
    for name, value in (("price", price), ("sale price", sale_price)):
        if value is None or not value.strip():
            amounts.append(None)
            continue
        money = parse_price(value, currency)
        if money is None:
            return FeedItem(where, None, "invalid", f"{label}: {name} {value.strip()!r} has no "
                            "number", clean_title)
        amounts.append(money)
    regular, sale = amounts
    if regular is None:  # a sale price alone is simply the price
        regular, sale = sale, None
    product = Product(
        id=id or _link_id(link.strip()), title=clean_title, description=html_to_text(description),
        price=regular, sale_price=sale, images=unique(images), brand=one_line(brand),
        link=link.strip(), available=available, group_id=group_id.strip())
    return FeedItem(where, product, title=clean_title)


def _link_id(link: str) -> str:
    # Derived from the link alone, so that a retitled product keeps its key on the next read.
    return "link-" + hashlib.sha256(link.encode()).hexdigest()[:16]


def load_json(path: Path) -> Any:
    """The parsed JSON document at `path`; malformed JSON fails the whole feed."""
    try:
        with path.open(encoding="utf-8-sig") as stream:
            return json.load(stream)
    except UnicodeDecodeError as error:
        raise FeedError("invalid_feed", f"{path.name}: not UTF-8 text ({error.reason} at "
                        f"byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise FeedError("invalid_feed", f"{path.name}: malformed JSON at line {error.lineno}, "
                        f"column {error.colno}: {error.msg}") from None
