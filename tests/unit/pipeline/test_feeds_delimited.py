"""Delimited feeds: Merchant TSV and CSV, and any CSV read through a column mapping."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from pipeline.sources.feeds import FeedError, FeedItem, read_feed
from pipeline.sources.product import Money, Product


def feed(tmp_path: Path, content: str | bytes, name: str = "feed.txt") -> Path:
    """The content written to a file in tmp_path."""
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def tsv(*rows: list[str]) -> str:
    """Rows joined by tabs, one per line, with Windows line ends."""
    return "".join("\t".join(row) + "\r\n" for row in rows)


def test_merchant_tsv_with_bom_and_windows_line_ends(tmp_path: Path) -> None:
    """A BOM, CRLF and header spellings such as "g:price" and "image link" all read right."""
    content = "\ufeff" + tsv(
        ["id", "Title", "g:description", "g:price", "sale price", "image link",
         "additional_image_link", "availability", "Brand", "link", "item group id"],
        ["JP-1", "抹茶セット", "<p>Matcha &amp; whisk</p>", "3,500 JPY", "", "https://c.example/1.jpg",
         "https://c.example/2.jpg,https://c.example/3.jpg", "in stock", "Kyoto Tea",
         "https://shop.example/jp-1", ""],
        ["FR-1", "Crème brûlée Set", "Torch", "49.00 EUR", "39.00 EUR", "", "", "out of stock",
         "", "https://shop.example/fr-1", ""])
    path = feed(tmp_path, content)
    assert list(read_feed(path, include_out_of_stock=True)) == [
        FeedItem("JP-1", Product(
            id="JP-1", title="抹茶セット", description="Matcha & whisk",
            price=Money(Decimal("3500.00"), "JPY"),
            images=("https://c.example/1.jpg", "https://c.example/2.jpg",
                    "https://c.example/3.jpg"),
            brand="Kyoto Tea", link="https://shop.example/jp-1"), title="抹茶セット"),
        FeedItem("FR-1", Product(
            id="FR-1", title="Crème brûlée Set", description="Torch",
            price=Money(Decimal("49.00"), "EUR"), sale_price=Money(Decimal("39.00"), "EUR"),
            link="https://shop.example/fr-1", available=False), title="Crème brûlée Set")]


def test_merchant_csv_with_semicolons_and_european_prices(tmp_path: Path) -> None:
    """A ";" CSV is sniffed from its header; quoted cells keep their commas and line breaks."""
    content = ('id;title;price;description\n'
               '1;"Sofa, grey";"1.299,00 EUR";"Two lines:\nsoft; deep"\n'
               '2;Cushion;£12.50;\n')
    products = [i.product for i in read_feed(feed(tmp_path, content))]
    assert products == [
        Product(id="1", title="Sofa, grey", price=Money(Decimal("1299.00"), "EUR"),
                description="Two lines:\nsoft; deep"),
        Product(id="2", title="Cushion", price=Money(Decimal("12.50"), "GBP"))]


def test_merchant_csv_with_commas(tmp_path: Path) -> None:
    """A "," CSV works the same and groups variants by item_group_id."""
    content = ("id,title,price,item_group_id,image_link\n"
               "s,Runner - 40,80 USD,RUN,https://c.example/40.jpg\n"
               "m,Runner - 41,75 USD,RUN,https://c.example/41.jpg\n"
               "l,Runner - 42,90 USD,RUN,\n")
    [result] = read_feed(feed(tmp_path, content))
    assert result.key == "RUN"
    assert result.product == Product(
        id="RUN", title="Runner", price=Money(Decimal("75.00"), "USD"),
        images=("https://c.example/40.jpg", "https://c.example/41.jpg"), group_id="RUN")


def test_rows_with_the_wrong_width_are_reported_by_row_number(tmp_path: Path) -> None:
    """A short or long row is invalid with its spreadsheet row number; the others still count."""
    content = tsv(["id", "title", "price"], ["a", "Good", "1 USD"], ["b", "Short"],
                  [], ["c", "Long", "2 USD", "extra"], ["d", "Padded", "3 USD", "", ""],
                  ["e", "", "4 USD"])
    results = list(read_feed(feed(tmp_path, content)))
    assert [(r.key, r.status, r.reason, r.title) for r in results] == [
        ("a", "ok", "", "Good"),
        ("row 3", "invalid", "row 3: 2 columns, the header has 3", "Short"),
        ("row 5", "invalid", "row 5: 4 columns, the header has 3", "Long"),
        ("d", "ok", "", "Padded"),
        ("row 7", "invalid", "row 7 (id e): no title", ""),
    ]


def test_a_merchant_header_without_title_fails_the_feed(tmp_path: Path) -> None:
    """Forcing a Merchant format on a header with no title column is invalid_feed."""
    with pytest.raises(FeedError) as caught:
        list(read_feed(feed(tmp_path, "id\tname\n1\tx\n"), format="merchant_tsv"))
    assert caught.value.code == "invalid_feed"
    assert "name" in caught.value.message


def test_text_that_is_not_utf8_fails_the_feed(tmp_path: Path) -> None:
    """A Latin-1 file is refused as invalid_feed rather than read as mojibake."""
    path = feed(tmp_path, "id,title\n1,Crème\n".encode("latin-1"))
    with pytest.raises(FeedError) as caught:
        list(read_feed(path, format="merchant_csv"))
    assert caught.value.code == "invalid_feed"


MAPPING = {"id": "SKU", "title": "Name", "description": "Details", "price": "Cost",
           "sale_price": "Offer", "currency": "Cur", "image": "Picture",
           "images": "More pictures", "brand": "Maker", "link": "URL",
           "availability": "Stock", "group_id": "Parent"}


def test_generic_csv_with_a_mapping(tmp_path: Path) -> None:
    """Each mapped column fills its field; the row's currency wins over the default."""
    content = ("SKU,Name,Details,Cost,Offer,Cur,Picture,More pictures,Maker,URL,Stock,Parent\n"
               "k1,Kettle,<b>Fast</b>,25.00,20.00,GBP,https://c.example/k.jpg,"
               '"https://c.example/k2.jpg, https://c.example/k3.jpg",Brewco,'
               "https://shop.example/k1,yes,\n"
               "k2,Toaster,,30,,,,,,,0,\n"
               "k3,Cup - Red,,5,,,,,,,yes,CUP\n"
               "k4,Cup - Blue,,4,,,,,,,yes,CUP\n")
    mapping = {field: column.upper() if field == "brand" else column
               for field, column in MAPPING.items()}  # columns match ignoring case
    results = list(read_feed(feed(tmp_path, content), format="csv", mapping=mapping,
                             currency="EUR"))
    assert [(r.key, r.status) for r in results] == [("k1", "ok"), ("k2", "skipped"),
                                                    ("CUP", "ok")]
    assert results[0].product == Product(
        id="k1", title="Kettle", description="Fast", price=Money(Decimal("25.00"), "GBP"),
        sale_price=Money(Decimal("20.00"), "GBP"),
        images=("https://c.example/k.jpg", "https://c.example/k2.jpg",
                "https://c.example/k3.jpg"),
        brand="Brewco", link="https://shop.example/k1")
    assert results[2].product is not None
    assert (results[2].product.title, results[2].product.price) == (
        "Cup", Money(Decimal("4.00"), "EUR"))


def test_a_mapping_needs_only_a_title(tmp_path: Path) -> None:
    """With just a title and link mapped, rows are identified by their link."""
    content = "Name;URL\nLamp;https://shop.example/lamp\n"
    [result] = read_feed(feed(tmp_path, content), format="csv",
                         mapping={"title": "Name", "link": "URL"})
    assert result.product is not None and result.product.title == "Lamp"
    assert result.key == result.product.id != ""


@pytest.mark.parametrize(("mapping", "words"), [
    ({"title": "Name", "price": "Prix"}, ["'Prix'", "Name, Cost"]),
    ({"price": "Cost"}, ["title"]),
    ({"title": "Name", "colour": "Name"}, ["'colour'"]),
    (None, ["mapping"]),
    ({}, ["mapping"]),
])
def test_bad_mappings_fail_the_feed_and_say_why(tmp_path: Path, mapping: dict[str, str] | None,
                                                words: list[str]) -> None:
    """A missing column, no title, an unknown field or no mapping is bad_mapping, explained."""
    path = feed(tmp_path, "Name,Cost\nLamp,5\n")
    with pytest.raises(FeedError) as caught:
        list(read_feed(path, format="csv", mapping=mapping))
    assert caught.value.code == "bad_mapping"
    for word in words:
        assert word in caught.value.message
