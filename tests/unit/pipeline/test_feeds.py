"""Product feeds across formats: detection, limits, grouping of variants, stable keys."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

import pipeline.sources.feeds as feeds
from pipeline.sources.feeds import FEED_FORMATS, FeedError, FeedItem, detect_format, read_feed
from pipeline.sources.feeds.grouping import common_title, group_items, merge_variants
from pipeline.sources.product import Money, Product

G = "http://base.google.com/ns/1.0"
RSS = (f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:g="{G}">\n<channel>'
       "<item><g:id>1</g:id><g:title>Lamp</g:title><g:price>10 USD</g:price></item>"
       "</channel>\n</rss>\n")
ATOM = (f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="{G}">'
        "<entry><g:id>1</g:id><title>Lamp</title></entry></feed>")
SHOPIFY = json.dumps({"products": [{"id": 1, "title": "Lamp", "body_html": "<p>x</p>",
                                    "variants": [{"price": "10.00"}]}]})
WOO = json.dumps([{"id": 1, "name": "Lamp", "regular_price": "10.00", "sale_price": "",
                   "stock_status": "instock", "short_description": ""}])
SAMPLES = {
    "merchant_xml": RSS,
    "merchant_tsv": "id\ttitle\tprice\n1\tLamp\t10 USD\n",
    "merchant_csv": "g:id,g:title,g:price\n1,Lamp,10 USD\n",
    "shopify": SHOPIFY,
    "woocommerce": WOO,
}


def encodings(text: str) -> dict[str, bytes]:
    """The text as plain UTF-8, with a BOM, and with Windows line ends and a BOM."""
    return {"plain": text.encode(), "bom": b"\xef\xbb\xbf" + text.encode(),
            "crlf": b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()}


@pytest.mark.parametrize("variant", ["plain", "bom", "crlf"])
@pytest.mark.parametrize("expected", list(SAMPLES))
def test_each_format_is_detected_and_read(tmp_path: Path, expected: str, variant: str) -> None:
    """Every format is told from its head, with or without BOM and CRLF, and reads the lamp."""
    content = encodings(SAMPLES[expected])[variant]
    assert detect_format(content[:4096]) == expected
    path = tmp_path / "feed"
    path.write_bytes(content)
    [result] = read_feed(path, currency="USD")
    assert result.key == "1" and result.product is not None
    assert (result.product.title, result.product.price) == ("Lamp", Money(Decimal("10.00"),
                                                                          "USD"))


@pytest.mark.parametrize(("head", "expected"), [
    (ATOM.encode(), "merchant_xml"),
    (b"  \n<?xml version='1.0'?><!-- <html> --><g:rss xmlns:g='x'/>", "merchant_xml"),
    (b'<?xml version="1.0"?><!DOCTYPE html [<!ENTITY a "b">]><html/>', "merchant_xml"),
    (json.dumps([{"id": 1, "title": "x", "variants": []}]).encode(), "shopify"),
    (b'{"products": []}', "shopify"),
    (json.dumps({"id": 1, "name": "x", "stock_status": "instock"}).encode(), "woocommerce"),
    (b"id;title;price\r\n1;x;2\r\n", "merchant_csv"),
    (b"ID\tTitle\tImage Link\n", "merchant_tsv"),
])
def test_detection_edge_cases(head: bytes, expected: str) -> None:
    """Atom, prefixed roots, wrapped JSON and header spellings are recognised; a DTD is XML."""
    assert detect_format(head) == expected


@pytest.mark.parametrize("head", [
    b"", b"   \r\n", b"\x89PNG\r\n\x1a\n\x00\x00", b"<html><body>shop</body></html>",
    b'{"orders": []}', b"[1, 2, 3]", b"sku,name,cost\nk1,Kettle,5\n", b"just some words",
])
def test_anything_else_is_an_unknown_format(head: bytes) -> None:
    """Empty, binary, HTML, other JSON and generic CSV are unknown_format, never guessed."""
    with pytest.raises(FeedError) as caught:
        detect_format(head)
    assert caught.value.code == "unknown_format"


def test_a_generic_csv_says_to_pass_a_mapping(tmp_path: Path) -> None:
    """Auto-detection of a CSV without Merchant columns points the caller at format="csv"."""
    path = tmp_path / "feed.csv"
    path.write_text("sku,name\nk1,Kettle\n")
    with pytest.raises(FeedError) as caught:
        list(read_feed(path))
    assert caught.value.code == "unknown_format" and "mapping" in caught.value.message
    [result] = read_feed(path, format="csv", mapping={"id": "sku", "title": "name"})
    assert result.key == "k1"


def test_an_unknown_format_name_is_refused(tmp_path: Path) -> None:
    """A format outside FEED_FORMATS is unknown_format and the message lists the valid ones."""
    path = tmp_path / "feed.xml"
    path.write_text(RSS)
    with pytest.raises(FeedError) as caught:
        list(read_feed(path, format="atom"))
    assert caught.value.code == "unknown_format"
    assert all(name in caught.value.message for name in FEED_FORMATS)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_a_feed_over_the_limit_is_too_large(tmp_path: Path, name: str) -> None:
    """Every format checks the file size before reading anything; at the limit is fine."""
    path = tmp_path / "feed"
    path.write_text(SAMPLES[name])
    size = path.stat().st_size
    assert len(list(read_feed(path, max_bytes=size))) == 1
    with pytest.raises(FeedError) as caught:
        list(read_feed(path, format=name, max_bytes=size - 1))
    assert caught.value.code == "too_large"


def test_reading_twice_gives_the_same_items(tmp_path: Path) -> None:
    """Same bytes, same items in the same order, with unique keys: re-runs can diff by key."""
    rows = "".join(
        f"<item><g:id>{n}</g:id><g:title>Shirt {n % 3}</g:title>"
        f"<g:item_group_id>{'G' + str(n % 3) if n % 2 else ''}</g:item_group_id>"
        f"<g:price>{n}.00 USD</g:price></item>" for n in range(1, 40))
    path = tmp_path / "feed.xml"
    path.write_text(RSS.replace("<channel>", "<channel>" + rows))
    first, second = list(read_feed(path)), list(read_feed(path))
    assert first == second
    keys = [item.key for item in first]
    assert len(keys) == len(set(keys))
    assert keys[-3:] == ["G1", "G0", "G2"]  # groups in order of their first variant


def test_the_package_exports_its_interface() -> None:
    """The package re-exports the reader and model lazily, and refuses other names."""
    from pipeline.sources.feeds import model, reader

    assert (feeds.read_feed, feeds.FeedItem) == (reader.read_feed, model.FeedItem)
    assert feeds.FEED_FORMATS == ("merchant_xml", "merchant_tsv", "merchant_csv", "shopify",
                                  "woocommerce", "csv")
    with pytest.raises(AttributeError):
        feeds.nothing  # noqa: B018
    error = FeedError("too_large", "big")
    assert (error.code, error.message, str(error)) == ("too_large", "big", "big")


@pytest.mark.parametrize(("titles", "expected"), [
    (["Tee - Red / M", "Tee - Red / L", "Tee - Blue / M"], "Tee"),
    (["Tee (Red, M)", "Tee (Red, L)"], "Tee"),
    (["Hoodie – XL", "Hoodie – S"], "Hoodie"),
    (["Shirt M", "Shirt Medium"], "Shirt"),
    (["Crème brûlée Set - 4", "Crème brûlée Set - 6"], "Crème brûlée Set"),
    (["抹茶 セット 赤", "抹茶 セット 青"], "抹茶 セット"),
    (["Same title", "Same title"], "Same title"),
    (["Ab S", "Ab M"], "Ab S"),  # too little in common: keep the first
    (["Red lamp", "Blue lamp"], "Red lamp"),
    (["Only one - M"], "Only one - M"),
])
def test_common_title_strips_the_variant_part(titles: list[str], expected: str) -> None:
    """The shared part of the variants' titles, cut at a word, without separators."""
    assert common_title(titles) == expected


def _money(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def test_merged_price_is_the_cheapest_variant_in_stock() -> None:
    """Prices come from the cheapest available variant, counting its sale price."""
    variants = [
        Product(id="a", title="Tee - S", price=_money("20"), group_id="T", available=False),
        Product(id="b", title="Tee - M", price=_money("30"), sale_price=_money("24"),
                group_id="T", images=("m.jpg",)),
        Product(id="c", title="Tee - L", price=_money("25"), group_id="T", brand="Acme",
                images=("l.jpg", "m.jpg")),
        Product(id="d", title="Tee - XL", group_id="T"),
    ]
    merged = merge_variants("T", variants)
    assert merged == Product(id="T", title="Tee", price=_money("30"), sale_price=_money("24"),
                             images=("m.jpg", "l.jpg"), brand="Acme", group_id="T")
    none_in_stock = merge_variants("T", [
        Product(id="a", title="Tee - S", price=_money("20"), group_id="T", available=False),
        Product(id="b", title="Tee - M", price=_money("15"), group_id="T", available=False)])
    assert (none_in_stock.available, none_in_stock.price) == (False, _money("15"))


def test_a_group_all_out_of_stock_is_skipped_or_included() -> None:
    """A group without a variant in stock is skipped under its group key, or kept flagged."""
    rows = [FeedItem(f"row {n}", Product(id=f"v{n}", title=f"Cap - {n}", group_id="CAP",
                                         available=False)) for n in (2, 3)]
    assert list(group_items(rows)) == [FeedItem("CAP", None, "skipped", "out of stock", "Cap")]
    [kept] = group_items(rows, include_out_of_stock=True)
    assert kept.status == "ok" and kept.product is not None and not kept.product.available


def test_ids_are_unique_across_variants_and_groups() -> None:
    """A reused variant id is a duplicate; a group named like a product is reported, not lost."""
    rows = [
        FeedItem("row 2", Product(id="X", title="Plain")),
        FeedItem("row 3", Product(id="v1", title="Mug - S", group_id="X")),
        FeedItem("row 4", Product(id="v1", title="Mug - M", group_id="X")),
        FeedItem("row 5", None, "invalid", "row 5: no title"),
    ]
    assert [(i.key, i.status, i.reason) for i in group_items(rows)] == [
        ("X", "ok", ""),
        ("row 4", "invalid", "row 4: duplicate id v1 (first in row 3)"),
        ("row 5", "invalid", "row 5: no title"),
        ("group X", "invalid", "group X: the same id as the product in row 2"),
    ]
