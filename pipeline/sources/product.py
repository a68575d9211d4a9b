"""One product, the same whatever it came from (the API, a feed row, a collection item).

Feeds and shops send prices as text ("15.00 USD", "$19.99", "1.299,00 €") and descriptions as
HTML; both are normalised here, before a script is written.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from typing import Any

from pipeline.types import StageError

_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW", "₽": "RUB",
            "₺": "TRY", "₪": "ILS", "R$": "BRL", "A$": "AUD", "C$": "CAD", "CHF": "CHF",
            "kr": "SEK", "zł": "PLN"}
_CODE = re.compile(r"\b([A-Z]{3})\b")
_NUMBER = re.compile(r"\d[\d.,' \u00a0\u202f]*")
# Text in these elements is never part of what a shopper reads.
_HIDDEN = {"script", "style", "template", "noscript", "head"}
_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_BREAKS = {"p", "br", "li", "div", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol",
           "table", "section", "article", "blockquote"}


@dataclass(frozen=True)
class Money:
    """An amount in a currency (ISO 4217 code; empty when the text named none)."""

    amount: Decimal
    currency: str


@dataclass(frozen=True)
class Product:
    """A product as the script and render stages use it."""

    id: str
    title: str
    description: str = ""
    price: Money | None = None
    sale_price: Money | None = None
    images: tuple[str, ...] = ()  # the main image first; URLs or upload ids
    brand: str = ""
    link: str = ""
    available: bool = True
    group_id: str = ""  # variants of one product share it

    @property
    def saving_percent(self) -> int | None:
        """How much the sale price saves, in whole percent; None without a real saving."""
        if self.price is None or self.sale_price is None or self.price.amount <= 0:
            return None
        saving = (self.price.amount - self.sale_price.amount) / self.price.amount * 100
        return int(saving) if saving >= 1 else None


@dataclass(frozen=True)
class ProductSource:
    """What a product script is written from: one product, or several for a compilation.

    By the time the script stage holds it, every product's `images` are media storage keys of
    checked pictures, and the job's visuals are all products' images in order.
    """

    products: tuple[Product, ...]
    mode: str = "single"  # "single" or "compilation" (a numbered scene per product)
    title: str = ""  # a compilation's own title ("Top 5 summer picks")
    language: str | None = None  # ISO 639-1; None: detect it from the products
    call_to_action: str = ""  # the profile's, when it has one
    target_seconds: float = 30.0  # how long the narration should last


def parse_price(text: str | float | int | None, currency: str = "") -> Money | None:
    """A price written the way shops write it; None when there is no number in it.

    With both marks the last is the decimal one: "1.299,00" and "1,299.00" are both 1299.00;
    "15.00 USD" is 15.00 in USD, "$19.99" 19.99 in USD, "19,99 €" 19.99 in EUR.
    """
    if text is None:
        return None
    raw = str(text).strip()
    match = _NUMBER.search(raw)
    if not match:
        return None
    found = _currency_in(raw) or currency.strip().upper()
    amount = _amount(match.group(0).strip(" \u00a0\u202f"))
    return None if amount is None else Money(amount, found)


def _currency_in(text: str) -> str:
    code = _CODE.search(text.upper())
    if code:
        return code.group(1)
    for symbol in sorted(_SYMBOLS, key=len, reverse=True):
        if symbol in text:
            return _SYMBOLS[symbol]
    return ""


def _amount(number: str) -> Decimal | None:
    digits = re.sub(r"[' \u00a0\u202f]", "", number).rstrip(".,")
    marks = [c for c in digits if c in ".,"]
    if marks:
        last = max(digits.rfind("."), digits.rfind(","))
        tail = digits[last + 1:]
        # One kind of mark, once, before three digits ("1.299", "2,500") groups thousands:
        # shop prices do not have three decimals. Otherwise the last mark is the decimal one.
        grouping = len(set(marks)) == 1 and (len(marks) > 1 or len(tail) == 3)
        whole = re.sub(r"[.,]", "", digits if grouping else digits[:last])
        digits = whole if grouping else f"{whole}.{tail}"
    try:
        return Decimal(digits).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


class _TextOf(HTMLParser):
    def __init__(self, markup: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0
        # In HTML a line break in the source is only a space; in plain text it ends a line.
        self._markup = markup

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(re.sub(r"[\r\n]+", " ", data) if self._markup else data)


def html_to_text(markup: str) -> str:
    """What a shopper reads in an HTML description: tags gone, entities decoded, one line per
    paragraph or list item, spaces collapsed."""
    parser = _TextOf(markup=bool(_TAG.search(markup)))
    parser.feed(markup)
    parser.close()
    text = html.unescape("".join(parser.parts))  # entities written twice (&amp;amp;) too
    lines = (re.sub(r"[ \t\u00a0\u202f]+", " ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def product_from_fields(fields: dict[str, Any]) -> Product:
    """A Product from the API's product source fields (title required)."""
    title = html_to_text(str(fields.get("title") or "")).replace("\n", " ").strip()
    if not title:
        raise StageError("script", "invalid_product", "a product needs a title")
    currency = str(fields.get("currency") or "")
    images = tuple(str(i).strip() for i in fields.get("images") or [] if str(i).strip())
    identity = str(fields.get("id") or "") or hashlib.sha256(
        f"{title}\0{fields.get('link') or ''}".encode()).hexdigest()[:16]
    return Product(
        id=identity, title=title, description=html_to_text(str(fields.get("description") or "")),
        price=parse_price(fields.get("price"), currency),
        sale_price=parse_price(fields.get("sale_price"), currency),
        images=images, brand=str(fields.get("brand") or "").strip(),
        link=str(fields.get("link") or "").strip(),
    )
