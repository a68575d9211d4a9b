"""Google Merchant attributes, whichever file they came in (XML, TSV or CSV), as a FeedItem."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from pipeline.sources.feeds.fields import is_available, row_item, split_images
from pipeline.sources.feeds.model import FeedItem

MERCHANT_NS = "http://base.google.com/ns/1.0"


def attribute_name(column: str) -> str:
    """The Merchant attribute a header names: "g:price", "Price" and "image link" all count."""
    name = column.strip().strip('"').strip().lower()
    name = name.removeprefix("g:")
    return re.sub(r"[\s-]+", "_", name)


def merchant_item(where: str, values: Mapping[str, Sequence[str]], *, currency: str) -> FeedItem:
    """One Merchant item from its attribute values (several per name when repeated)."""

    def first(name: str) -> str:
        return next((v.strip() for v in values.get(name, ()) if v and v.strip()), "")

    images = [first("image_link")]
    for value in values.get("additional_image_link", ()):
        images.extend(split_images(value))
    return row_item(
        where, id=first("id"), title=first("title"), description=first("description"),
        link=first("link"), price=first("price"), sale_price=first("sale_price"),
        currency=currency, images=images, brand=first("brand"),
        available=is_available(first("availability")), group_id=first("item_group_id"))
