"""`read_feed`: a product feed file, whatever its format, as a stream of FeedItems."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from pipeline.sources.feeds.delimited import read_mapped_csv, read_merchant_delimited
from pipeline.sources.feeds.detect import HEAD_BYTES, detect_format
from pipeline.sources.feeds.grouping import group_items
from pipeline.sources.feeds.merchant_xml import read_merchant_xml
from pipeline.sources.feeds.model import FEED_FORMATS, FeedError, FeedItem
from pipeline.sources.feeds.shopify import read_shopify
from pipeline.sources.feeds.woocommerce import read_woocommerce

# Each format's rows, keyed by position; every reader takes (path, currency, mapping).
RowReader = Callable[[Path, str, Mapping[str, str] | None], Iterator[FeedItem]]
_READERS: dict[str, RowReader] = {
    "merchant_xml": lambda path, currency, _: read_merchant_xml(path, currency=currency),
    "merchant_tsv": lambda path, currency, _: read_merchant_delimited(
        path, delimiter="\t", currency=currency),
    "merchant_csv": lambda path, currency, _: read_merchant_delimited(path, currency=currency),
    "shopify": lambda path, currency, _: read_shopify(path, currency=currency),
    "woocommerce": lambda path, currency, _: read_woocommerce(path, currency=currency),
    "csv": lambda path, currency, mapping: read_mapped_csv(
        path, mapping=mapping, currency=currency),
}


def read_feed(path: Path, *, format: str = "auto", mapping: dict[str, str] | None = None,
              include_out_of_stock: bool = False, max_bytes: int = 200 * 1024 * 1024,
              currency: str = "") -> Iterator[FeedItem]:
    """Yield one FeedItem per product, variant group or unusable row of the feed at `path`.

    A generator: nothing is read, and no FeedError raised, until the first item is asked for;
    a malformed document can still raise after some items came out. `mapping` is only used
    by format="csv"; `currency` is the currency of prices that name none (Shopify and
    WooCommerce never do).
    """
    size = path.stat().st_size
    if size > max_bytes:
        raise FeedError("too_large", f"{path.name}: {size} bytes, more than the {max_bytes} "
                        "allowed")
    if format == "auto":
        with path.open("rb") as stream:
            format = detect_format(stream.read(HEAD_BYTES))
    elif format not in FEED_FORMATS:
        raise FeedError("unknown_format", f"format {format!r} is not one of "
                        f"{', '.join(FEED_FORMATS)}")
    rows = _READERS[format](path, currency, mapping)
    yield from group_items(rows, include_out_of_stock=include_out_of_stock)
