"""WooCommerce REST products (`/wp-json/wc/v3/products`, variations included or not).

Variations (parent_id other than 0) are grouped under their parent, and a parent that is in
the list joins its own group. The REST API names no currency; the caller's default is used.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pipeline.sources.feeds.fields import is_available, load_json, row_item, text
from pipeline.sources.feeds.model import FeedError, FeedItem

# Keys only WooCommerce products carry; a lone object with one of them is a single product.
MARKERS = ("regular_price", "stock_status", "short_description")


def read_woocommerce(path: Path, *, currency: str = "") -> Iterator[FeedItem]:
    """Every product and variation of a WooCommerce REST response."""
    data = load_json(path)
    if isinstance(data, dict):
        data = data["products"] if isinstance(data.get("products"), list) else (
            [data] if any(key in data for key in MARKERS) else None)
    if not isinstance(data, list):
        raise FeedError("invalid_feed", f"{path.name}: expected a list of products")
    objects = [raw for raw in data if isinstance(raw, dict)]
    parents = {_parent(raw) for raw in objects} - {""}
    names = {text(raw.get("id")): text(raw.get("name")) for raw in objects if raw.get("name")}
    for number, raw in enumerate(data, start=1):
        where = f"item {number}"
        if not isinstance(raw, dict):
            yield FeedItem(where, None, "invalid", f"{where}: not a JSON object")
            continue
        item = _product(where, raw, parents, names, currency)
        status = text(raw.get("status"))
        if item.product is not None and status not in ("", "publish"):
            # Drafts, pending and private products are not for sale: nothing to advertise.
            item = FeedItem(where, item.product, "skipped", f"not published (status {status})",
                            item.title)
        yield item


def _product(where: str, raw: Mapping[str, Any], parents: set[str], names: Mapping[str, str],
             currency: str) -> FeedItem:
    identity = text(raw.get("id"))
    parent = _parent(raw)
    title = text(raw.get("name"))
    if not title and parent in names:
        # Variations fetched from /products/<id>/variations have no name of their own.
        options = [text(a.get("option")) for a in raw.get("attributes") or []
                   if isinstance(a, dict)]
        title = " - ".join([names[parent], ", ".join(o for o in options if o)]).rstrip(" -")
    regular, sale, current = (text(raw.get(key)) for key in ("regular_price", "sale_price",
                                                             "price"))
    images = [text(i.get("src")) for i in raw.get("images") or [] if isinstance(i, dict)]
    if isinstance(raw.get("image"), dict):
        images.append(text(raw["image"].get("src")))
    return row_item(
        where, id=identity, title=title,
        description=text(raw.get("description")) or text(raw.get("short_description")),
        link=text(raw.get("permalink")), price=regular or current,
        sale_price=sale if regular and sale != regular else None, currency=currency,
        images=images, brand=_brand(raw),
        available=is_available(text(raw.get("stock_status"))),
        group_id=parent or (identity if identity in parents else ""))


def _parent(raw: Mapping[str, Any]) -> str:
    parent = text(raw.get("parent_id"))
    return "" if parent in ("", "0") else parent


def _brand(raw: Mapping[str, Any]) -> str:
    for brand in raw.get("brands") or []:
        if isinstance(brand, dict) and text(brand.get("name")):
            return text(brand["name"])
    for attribute in raw.get("attributes") or []:
        if isinstance(attribute, dict) and text(attribute.get("name")).lower() in (
                "brand", "pa_brand"):
            options = attribute.get("options") or [attribute.get("option")]
            return text(options[0]) if options else ""
    return ""
