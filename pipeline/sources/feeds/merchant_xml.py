"""Google Merchant feeds in RSS 2.0 or Atom, read one item at a time.

The XML comes from strangers, so it is parsed by defusedxml with every DTD refused: no entity
is ever expanded (billion laughs) and no external reference is ever fetched (XXE). Items are
handed on as they close and then dropped from the tree, so memory stays flat however long the
feed is. Malformed XML fails the feed with its line and column even after some items were
read: a reader cannot tell what the rest of a broken document meant.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

import defusedxml
import defusedxml.ElementTree as SafeET

from pipeline.sources.feeds.merchant import MERCHANT_NS, merchant_item
from pipeline.sources.feeds.model import FeedError, FeedItem

ATOM_NS = "http://www.w3.org/2005/Atom"
_ROOTS = {"rss", "feed"}
_ITEMS = {("", "item"), (ATOM_NS, "entry"), ("", "entry")}
# Plain RSS and Atom elements that stand in for a missing Merchant attribute.
_PLAIN = {"title": "title", "description": "description", "summary": "description",
          "content": "description", "link": "link"}


def read_merchant_xml(path: Path, *, currency: str = "") -> Iterator[FeedItem]:
    """Every item of a Merchant RSS or Atom feed, each keyed by its position ("item 3")."""
    with path.open("rb") as stream:
        try:
            yield from _items(stream, currency)
        except defusedxml.DefusedXmlException as error:
            raise FeedError("unsafe_xml", f"{path.name}: refused, the XML declares a DTD, an "
                            f"entity or an external reference ({error})") from None
        except ET.ParseError as error:
            line, column = error.position
            raise FeedError("invalid_feed", f"{path.name}: malformed XML at line {line}, "
                            f"column {column}") from None


def _items(stream: IO[bytes], currency: str) -> Iterator[FeedItem]:
    events = SafeET.iterparse(stream, events=("start", "end"), forbid_dtd=True,
                              forbid_entities=True, forbid_external=True)
    stack: list[ET.Element] = []
    count = 0
    inside = 0  # depth inside the current item; its children are not items themselves
    for event, element in events:
        if event == "start":
            if not stack and _split(element.tag)[1] not in _ROOTS:
                raise FeedError("invalid_feed", f"root element <{_split(element.tag)[1]}> is "
                                "not an RSS or Atom feed")
            if inside or _split(element.tag) in _ITEMS:
                inside += 1
            stack.append(element)
            continue
        stack.pop()
        if inside:
            inside -= 1
            if inside == 0:
                count += 1
                yield merchant_item(f"item {count}", _values(element), currency=currency)
                # The item closes last in its parent so far: dropping all the parent's
                # children frees it and everything read before it.
                if stack:
                    del stack[-1][:]


def _values(item: ET.Element) -> Mapping[str, list[str]]:
    merchant: dict[str, list[str]] = {}
    plain: dict[str, list[str]] = {}
    for child in item:
        namespace, name = _split(child.tag)
        if namespace == MERCHANT_NS:
            merchant.setdefault(name, []).append("".join(child.itertext()))
        elif namespace in ("", ATOM_NS) and name in _PLAIN:
            if name == "link" and child.get("rel") not in (None, "alternate"):
                continue  # Atom's rel="self", "enclosure"… are not the product page
            # An Atom link is <link href="…"/>; an RSS link is the element's text.
            value = child.get("href") or "".join(child.itertext())
            plain.setdefault(_PLAIN[name], []).append(value)
    # Merchant attributes win; the plain element is the fallback when one is missing or empty.
    return {name: merchant.get(name, []) + plain.get(name, []) for name in merchant | plain}


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag
