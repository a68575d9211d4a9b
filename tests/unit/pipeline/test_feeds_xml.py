"""Google Merchant XML feeds: RSS and Atom fields, HTML in descriptions, safety, streaming."""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.sources.feeds import FeedError, FeedItem, read_feed
from pipeline.sources.product import Money, Product

G = "http://base.google.com/ns/1.0"


def rss(*items: str, prolog: str = '<?xml version="1.0" encoding="UTF-8"?>\n') -> str:
    """An RSS 2.0 Merchant feed around already-written <item> elements."""
    return (f'{prolog}<rss version="2.0" xmlns:g="{G}"><channel><title>Shop</title>'
            f'<link>https://shop.example/</link>{"".join(items)}</channel></rss>')


def item(**fields: str) -> str:
    """One <item> with g: elements; values are written as given (escape them yourself)."""
    return "<item>" + "".join(f"<g:{k}>{v}</g:{k}>" for k, v in fields.items()) + "</item>"


def feed(tmp_path: Path, content: str | bytes, name: str = "feed.xml") -> Path:
    """The content written to a file in tmp_path."""
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_rss_item_becomes_a_full_product(tmp_path: Path) -> None:
    """Every Merchant attribute lands in its Product field; images keep order, no duplicates."""
    path = feed(tmp_path, rss(item(
        id="SKU-1", title="Crème brûlée Set", brand="Maison &amp; Co",
        description="<![CDATA[<p>Caf&eacute; torch &amp; 4 ramekins.<br>Gift box.</p>]]>",
        link="https://shop.example/p/1", image_link="https://cdn.example/main.jpg",
        price="15.00 USD", sale_price="12.00 USD", availability="in stock",
    ).replace("</item>", "<g:additional_image_link>https://cdn.example/2.jpg, "
              "https://cdn.example/w_400,h_400/3.jpg</g:additional_image_link>"
              "<g:additional_image_link>https://cdn.example/main.jpg</g:additional_image_link>"
              "<g:additional_image_link>https://cdn.example/4.jpg</g:additional_image_link>"
              "</item>")))
    assert list(read_feed(path)) == [FeedItem("SKU-1", Product(
        id="SKU-1", title="Crème brûlée Set", description="Café torch & 4 ramekins.\nGift box.",
        price=Money(Decimal("15.00"), "USD"), sale_price=Money(Decimal("12.00"), "USD"),
        images=("https://cdn.example/main.jpg", "https://cdn.example/2.jpg",
                "https://cdn.example/w_400,h_400/3.jpg", "https://cdn.example/4.jpg"),
        brand="Maison & Co", link="https://shop.example/p/1"), title="Crème brûlée Set")]


def test_plain_rss_elements_stand_in_for_missing_merchant_ones(tmp_path: Path) -> None:
    """<title>, <description> and <link> are used when the g: attribute is missing or empty."""
    path = feed(tmp_path, rss(
        "<item><g:id>1</g:id><title>東京 ティーセット</title><g:title></g:title>"
        "<description>&lt;p&gt;Th&amp;eacute; &amp;amp; cups&lt;/p&gt;</description>"
        "<link>https://shop.example/jp</link><g:price>2,500 JPY</g:price></item>"))
    [result] = read_feed(path)
    assert result.product is not None
    assert (result.product.title, result.product.description, result.product.link) == (
        "東京 ティーセット", "Thé & cups", "https://shop.example/jp")
    assert result.product.price == Money(Decimal("2500.00"), "JPY")


def test_atom_entries_are_read(tmp_path: Path) -> None:
    """Atom feeds give the same products: summary as description, link href, EUR notation."""
    path = feed(tmp_path, f"""<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="{G}"><title>Boutique</title>
<entry><g:id>FR-9</g:id><title>Crème brûlée Set</title><summary>Tout &#224; la main</summary>
<link rel="self" href="https://shop.example/feed"/><link href="https://shop.example/fr/9"/>
<g:price>1.299,00 EUR</g:price><g:image_link>https://cdn.example/fr.jpg</g:image_link></entry>
<entry><g:id>UK-1</g:id><title>Tea towel</title><g:price>7.50 GBP</g:price></entry></feed>""")
    products = [i.product for i in read_feed(path)]
    assert products == [
        Product(id="FR-9", title="Crème brûlée Set", description="Tout à la main",
                price=Money(Decimal("1299.00"), "EUR"), images=("https://cdn.example/fr.jpg",),
                link="https://shop.example/fr/9"),
        Product(id="UK-1", title="Tea towel", price=Money(Decimal("7.50"), "GBP"))]


def test_missing_price_is_no_price_and_default_currency_fills_bare_numbers(tmp_path: Path
                                                                           ) -> None:
    """An item without a price is still usable; a bare number takes the caller's currency."""
    path = feed(tmp_path, rss(item(id="a", title="No price"), item(id="b", title="Bare",
                                                                   price="19.90")))
    a, b = (i.product for i in read_feed(path, currency="EUR"))
    assert a is not None and a.price is None and a.sale_price is None
    assert b is not None and b.price == Money(Decimal("19.90"), "EUR")


@pytest.mark.parametrize(("availability", "available"), [
    ("in stock", True), ("in_stock", True), ("preorder", True), ("backorder", True),
    ("out of stock", False), ("out_of_stock", False), ("Out Of Stock", False)])
def test_only_out_of_stock_is_unavailable(tmp_path: Path, availability: str,
                                          available: bool) -> None:
    """Out of stock is skipped (or kept, flagged, on request); every other value is for sale."""
    path = feed(tmp_path, rss(item(id="x", title="Lamp", availability=availability)))
    [default] = read_feed(path)
    [included] = read_feed(path, include_out_of_stock=True)
    if available:
        assert default.status == "ok" and default.product is not None
        assert default.product.available
    else:
        assert default == FeedItem("x", None, "skipped", "out of stock", "Lamp")
        assert included.status == "ok" and included.product is not None
        assert included.product.available is False
    assert included.key == "x"


def test_three_sizes_become_one_product(tmp_path: Path) -> None:
    """Variants sharing item_group_id come out once, merged, after the ungrouped items."""
    path = feed(tmp_path, rss(
        item(id="TEE-S", title="Linen Tee - Sand / S", item_group_id="TEE",
             price="30.00 USD", image_link="https://cdn.example/s.jpg"),
        item(id="MUG", title="Mug", price="9.00 USD"),
        item(id="TEE-M", title="Linen Tee - Sand / M", item_group_id="TEE", price="20.00 USD",
             availability="out of stock", image_link="https://cdn.example/m.jpg"),
        item(id="TEE-L", title="Linen Tee - Ash / L", item_group_id="TEE", price="25.00 USD",
             sale_price="22.00 USD", image_link="https://cdn.example/s.jpg",
             description="Soft linen.")))
    results = list(read_feed(path))
    assert [r.key for r in results] == ["MUG", "TEE"]
    assert results[1].product == Product(
        id="TEE", title="Linen Tee", description="Soft linen.",
        price=Money(Decimal("25.00"), "USD"), sale_price=Money(Decimal("22.00"), "USD"),
        images=("https://cdn.example/s.jpg", "https://cdn.example/m.jpg"), group_id="TEE")


def test_broken_items_are_reported_and_good_ones_still_come_out(tmp_path: Path) -> None:
    """Items without a title, identity or readable price are invalid with a reason naming them."""
    path = feed(tmp_path, rss(
        item(id="ok1", title="First"),
        item(id="no-title", price="5 USD"),
        item(title="Nobody"),
        item(id="p", title="Ask us", price="call us"),
        item(id="s", title="Sale?", price="5 USD", sale_price="soon"),
        item(id="ok1", title="Again"),
        item(title="Linked only", link="https://shop.example/l"),
    ))
    results = list(read_feed(path))
    assert [(r.key, r.status, r.reason) for r in results[:6]] == [
        ("ok1", "ok", ""),
        ("item 2", "invalid", "item 2 (id no-title): no title"),
        ("item 3", "invalid", "item 3: no id or link to identify it"),
        ("item 4", "invalid", "item 4 (id p): price 'call us' has no number"),
        ("item 5", "invalid", "item 5 (id s): sale price 'soon' has no number"),
        ("item 6", "invalid", "item 6: duplicate id ok1 (first in item 1)"),
    ]
    assert [r.title for r in results[2:6]] == ["Nobody", "Ask us", "Sale?", "Again"]
    linked = results[6]
    assert linked.status == "ok" and linked.product is not None
    assert linked.key == linked.product.id and linked.key.startswith("link-")


class _Recorder(BaseHTTPRequestHandler):
    """Answers every GET with an entity declaration and remembers the path asked for."""

    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
        type(self).hits.append(self.path)
        body = b'<!ENTITY secret "leaked">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 and the list of paths it was asked for."""
    hits: list[str] = []
    handler = type("Handler", (_Recorder,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_server_fixture_records_requests(listener: tuple[str, list[str]]) -> None:
    """The recording server does see a request, so its zero count below means something."""
    import urllib.request

    url, hits = listener
    with urllib.request.urlopen(f"{url}/probe", timeout=5) as response:
        assert response.status == 200
    assert hits == ["/probe"]


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{url}/entity">]>',
    '<!DOCTYPE rss SYSTEM "{url}/external.dtd">',
    '<!DOCTYPE rss [<!ENTITY % remote SYSTEM "{url}/param"> %remote;]>',
], ids=["external-entity", "external-dtd", "parameter-entity"])
def test_external_references_are_refused_and_never_fetched(
        tmp_path: Path, listener: tuple[str, list[str]], doctype: str) -> None:
    """XXE in any spelling fails the feed as unsafe_xml and the server gets no request."""
    url, hits = listener
    body = rss(item(id="1", title="&xxe;" if "xxe" in doctype else "T"),
               prolog='<?xml version="1.0"?>\n' + doctype.format(url=url) + "\n")
    with pytest.raises(FeedError) as caught:
        list(read_feed(feed(tmp_path, body)))
    assert caught.value.code == "unsafe_xml"
    time.sleep(0.2)  # a request sent in the background would have arrived by now
    assert hits == []


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    """Nested entity bombs fail as unsafe_xml at once, without expanding anything."""
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'
        for n in range(1, 10))
    body = rss(item(id="1", title="&lol9;"),
               prolog=f'<?xml version="1.0"?>\n<!DOCTYPE rss [{entities}]>\n')
    started = time.monotonic()
    with pytest.raises(FeedError) as caught:
        list(read_feed(feed(tmp_path, body)))
    assert caught.value.code == "unsafe_xml"
    assert time.monotonic() - started < 1.0


def test_a_dtd_without_entities_is_refused_too(tmp_path: Path) -> None:
    """Any DTD at all is refused: there is no safe subset worth allowing in a product feed."""
    body = rss(item(id="1", title="T"), prolog='<?xml version="1.0"?>\n'
               '<!DOCTYPE rss [<!ELEMENT rss ANY>]>\n')
    with pytest.raises(FeedError) as caught:
        list(read_feed(feed(tmp_path, body)))
    assert caught.value.code == "unsafe_xml"


def test_malformed_xml_fails_with_its_position_even_mid_stream(tmp_path: Path) -> None:
    """Items before the break come out; then the feed fails as invalid_feed naming the line."""
    body = rss(item(id="1", title="Fine"), "\n<item><g:id>2</g:id><g:title>Bro</ken></item>")
    results = read_feed(feed(tmp_path, body))
    first = next(results)
    assert first.key == "1"
    with pytest.raises(FeedError) as caught:
        next(results)
    assert caught.value.code == "invalid_feed"
    assert "line 3," in caught.value.message


def test_an_undefined_entity_is_malformed_not_expanded(tmp_path: Path) -> None:
    """HTML entities outside CDATA are not XML: the feed is invalid, nothing is guessed."""
    with pytest.raises(FeedError) as caught:
        list(read_feed(feed(tmp_path, rss(item(id="1", title="Caf&eacute;")))))
    assert caught.value.code == "invalid_feed"


def test_xml_that_is_not_a_feed_is_refused(tmp_path: Path) -> None:
    """Forcing merchant_xml on another XML document fails as invalid_feed, naming the root."""
    path = feed(tmp_path, "<html><body>hi</body></html>")
    with pytest.raises(FeedError) as caught:
        list(read_feed(path, format="merchant_xml"))
    assert (caught.value.code, "<html>" in caught.value.message) == ("invalid_feed", True)


def test_a_bom_and_crlf_do_not_matter(tmp_path: Path) -> None:
    """A UTF-8 BOM and Windows line ends give the same items as the plain file."""
    plain = rss(item(id="1", title="Crème"), item(id="2", title="東京"))
    windows = b"\xef\xbb\xbf" + plain.replace("\n", "\r\n").replace("><", ">\r\n<").encode()
    assert list(read_feed(feed(tmp_path, windows, "bom.xml"))) == list(
        read_feed(feed(tmp_path, plain)))


def _write_big_feed(path: Path, count: int) -> None:
    description = "A sturdy everyday product described at some length. " * 24
    with path.open("w", encoding="utf-8") as out:
        out.write(f'<?xml version="1.0"?><rss version="2.0" xmlns:g="{G}"><channel>')
        for n in range(count):
            out.write(f"<item><g:id>P{n}</g:id><g:title>Product {n}</g:title>"
                      f"<g:description>{description}</g:description>"
                      f"<g:link>https://shop.example/p/{n}</g:link>"
                      f"<g:image_link>https://cdn.example/{n}.jpg</g:image_link>"
                      f"<g:price>{n % 90 + 10}.00 USD</g:price>"
                      "<g:availability>in stock</g:availability></item>\n")
        out.write("</channel></rss>")


def test_a_large_feed_is_streamed(tmp_path: Path) -> None:
    """20,000 items come out in order while traced memory stays far below the file's tree."""
    path = tmp_path / "big.xml"
    _write_big_feed(path, 20_000)
    count = 0
    tracemalloc.start()
    try:
        for result in read_feed(path):
            assert result.key == f"P{count}"
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert peak < 40 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"
