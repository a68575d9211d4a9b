"""Which feed format a file holds, told from its first few kilobytes."""

from __future__ import annotations

import codecs
import csv
import re

from pipeline.sources.feeds.delimited import sniff_delimiter
from pipeline.sources.feeds.merchant import attribute_name
from pipeline.sources.feeds.model import FeedError

HEAD_BYTES = 64 * 1024  # enough to reach the first product's keys past a long description

_COMMENT = re.compile(r"<!--.*?-->", re.S)
_ROOT = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)[\s/>]")
# A key, not the same word inside a string: JSON escapes the quotes of quoted text.
_SHOPIFY_KEYS = re.compile(r'(?<!\\)"(?:body_html|variants)"\s*:')
_WOO_KEYS = re.compile(r'(?<!\\)"(?:regular_price|stock_status|short_description)"\s*:')
_PRODUCTS_LIST = re.compile(r'(?<!\\)"products"\s*:\s*\[')


def detect_format(head: bytes) -> str:
    """The format of a feed from its first bytes; FeedError("unknown_format") when unclear.

    A CSV without Merchant columns is never guessed: it needs format="csv" and a mapping.
    """
    text = head.removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="replace").lstrip()
    if not text:
        raise FeedError("unknown_format", "the feed is empty")
    if "\x00" in text:
        raise FeedError("unknown_format", "the feed is not text")
    if text.startswith("<"):
        return _xml_format(text)
    if text.startswith(("{", "[")):
        return _json_format(text)
    return _delimited_format(text)


def _xml_format(text: str) -> str:
    if re.search(r"<!(?:DOCTYPE|ENTITY)", text):
        # Whatever its root, reading it must refuse the DTD loudly (unsafe_xml), not shrug.
        return "merchant_xml"
    root = _ROOT.search(_COMMENT.sub("", text))
    if root and root.group(1) in ("rss", "feed"):
        return "merchant_xml"
    name = f"<{root.group(1)}>" if root else "no root element"
    raise FeedError("unknown_format", f"XML with {name} is not an RSS or Atom product feed")


def _json_format(text: str) -> str:
    if _SHOPIFY_KEYS.search(text):
        return "shopify"
    if _WOO_KEYS.search(text):
        return "woocommerce"
    if text.startswith("{") and _PRODUCTS_LIST.search(text):
        return "shopify"
    raise FeedError("unknown_format", "JSON that is neither Shopify products.json nor a "
                    "WooCommerce products list")


def _delimited_format(text: str) -> str:
    # The header ends at the first line break the csv module sees: a lone "\r" is one too.
    line = re.split(r"\r\n?|\n", text, maxsplit=1)[0]
    delimiter = sniff_delimiter(line)
    if delimiter in line:
        names = {attribute_name(column) for column in next(csv.reader([line],
                                                                      delimiter=delimiter))}
        if {"id", "title"} <= names:
            return "merchant_tsv" if delimiter == "\t" else "merchant_csv"
    raise FeedError("unknown_format", "not a Merchant feed (its header has no id and title "
                    "columns); for another CSV pass format=\"csv\" and a mapping")
