"""Products normalised from shop text: prices in every common notation, HTML descriptions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipeline.sources.product import Money, Product, html_to_text, parse_price, product_from_fields
from pipeline.types import StageError


@pytest.mark.parametrize(("text", "currency", "expected"), [
    ("15.00 USD", "", Money(Decimal("15.00"), "USD")),
    ("$19.99", "", Money(Decimal("19.99"), "USD")),
    ("19,99 €", "", Money(Decimal("19.99"), "EUR")),
    ("1.299,00 EUR", "", Money(Decimal("1299.00"), "EUR")),
    ("1,299.00", "usd", Money(Decimal("1299.00"), "USD")),
    ("1.299", "EUR", Money(Decimal("1299.00"), "EUR")),
    ("2 500,50 kr", "", Money(Decimal("2500.50"), "SEK")),
    ("CHF 1'250.5", "", Money(Decimal("1250.50"), "CHF")),
    ("£7", "", Money(Decimal("7.00"), "GBP")),
    (12.5, "JPY", Money(Decimal("12.50"), "JPY")),
    ("1.234.567", "", Money(Decimal("1234567.00"), "")),
])
def test_prices_in_shop_notation(text, currency: str, expected: Money) -> None:
    """Amounts and currencies come out right whichever separators and symbols a shop uses."""
    assert parse_price(text, currency) == expected


@pytest.mark.parametrize("text", [None, "", "call us", "—"])
def test_text_without_a_number_is_no_price(text) -> None:
    """Missing or wordy prices are None, not zero."""
    assert parse_price(text) is None


def test_html_descriptions_become_clean_lines() -> None:
    """Tags go, entities decode (even doubled), scripts vanish, paragraphs and items are lines."""
    markup = ("<div><p>Brews <b>smooth</b>&nbsp;coffee&amp;tea.</p><script>alert(1)</script>"
              "<ul><li>Holds 1&nbsp;L</li><li>Caf&eacute; &amp;amp; bar</li></ul>"
              "<style>p{color:red}</style><![CDATA[ignored?]]>Done</div>")
    assert html_to_text(markup).split("\n") == [
        "Brews smooth coffee&tea.", "Holds 1 L", "Café & bar", "Done"]


def test_product_fields_are_normalised() -> None:
    """A product source becomes a Product: clean title and text, prices, images in order."""
    product = product_from_fields({
        "title": " Cold <i>Brew</i> Kit ", "description": "<p>Smooth.</p><p>Easy.</p>",
        "price": "40.00", "sale_price": "30.00", "currency": "EUR",
        "images": ["https://shop.example/a.jpg", " ", "upl_" + "0" * 24], "brand": "Acme",
        "link": "https://shop.example/kit", "id": "sku-1"})
    assert product == Product(
        id="sku-1", title="Cold Brew Kit", description="Smooth.\nEasy.",
        price=Money(Decimal("40.00"), "EUR"), sale_price=Money(Decimal("30.00"), "EUR"),
        images=("https://shop.example/a.jpg", "upl_" + "0" * 24), brand="Acme",
        link="https://shop.example/kit")
    assert product.saving_percent == 25


def test_a_product_without_a_title_is_refused_and_ids_are_stable() -> None:
    """No title is a StageError; without an id the same title and link give the same id."""
    with pytest.raises(StageError) as caught:
        product_from_fields({"title": "<b> </b>"})
    assert caught.value.code == "invalid_product"
    one = product_from_fields({"title": "Kit", "link": "https://s.example/k"})
    assert one.id == product_from_fields({"title": "Kit", "link": "https://s.example/k"}).id
    assert one.id != product_from_fields({"title": "Kit 2"}).id
    assert one.saving_percent is None


def test_line_breaks_inside_html_are_spaces_but_plain_text_keeps_its_lines() -> None:
    """An <li> wrapped over two source lines stays one line; plain text keeps its lines."""
    from pipeline.sources.product import html_to_text

    assert html_to_text("<ul><li>Soft\n  cotton</li><li>Two</li></ul>") == "Soft cotton\nTwo"
    assert html_to_text("Line one\r\nLine two") == "Line one\nLine two"
