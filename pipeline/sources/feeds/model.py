"""What reading a product feed gives: one item per product or broken row, or one error for all."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.sources.product import Product

FEED_FORMATS = ("merchant_xml", "merchant_tsv", "merchant_csv", "shopify", "woocommerce", "csv")


@dataclass(frozen=True)
class FeedItem:
    """One outcome of reading a feed: a usable product, or a row that cannot be used and why."""

    # Stable identity within the feed: the variant group id when grouped, else the product id;
    # for a row that cannot be used, its position ("row 17", "item 5").
    key: str
    product: Product | None  # None when the row cannot be used or is skipped
    status: str = "ok"  # "ok" | "invalid" (reason says why) | "skipped" (e.g. out of stock)
    reason: str = ""  # a sentence for the report: "row 17: no title", "out of stock"
    title: str = ""  # best-effort title even for invalid or skipped rows, for the report


class FeedError(Exception):
    """The whole feed cannot be read; `code` says why in one word and `message` in a sentence.

    Codes: "unsafe_xml" (a DTD, entity declaration or external reference), "invalid_feed"
    (malformed XML, JSON or CSV header), "unknown_format", "too_large", "bad_mapping".
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
