"""Prices as a product script writes them: on screen and in the narration, per language."""

from __future__ import annotations

import functools

from babel import Locale, UnknownLocaleError
from babel.numbers import format_decimal, get_currency_precision, get_group_symbol

from pipeline.sources.product import Money
from pipeline.text.language import base_language

# The signs the voice stage's normaliser reads as money. Babel's own symbols differ by locale
# ("$US" in French, "US$" in Spanish, "JPY" in French) and some of them the voice cannot say;
# every other currency is written as its code after the number ("19.99 CHF"), which it can.
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩", "RUB": "₽",
            "TRY": "₺"}
_BIDI_MARKS = "\u200e\u200f\u061c"


@functools.lru_cache(maxsize=64)
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(base_language(language) or "en")
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def format_number(money: Money, language: str) -> str:
    """The amount alone in the language's decimal style: "19.99" (en), "19,99" (de)."""
    locale = _locale(language)
    digits = get_currency_precision(money.currency) if money.currency else 2
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    number = format_decimal(money.amount, format=pattern, locale=locale)
    group = get_group_symbol(locale)
    # French groups thousands with a (narrow) no-break space; narration is split into words on
    # whitespace, which would read "1 299,00 €" as "one" and "299 euros". Four-digit prices
    # without the space are still good French.
    return number.replace(group, "") if group.isspace() else number


def format_price(money: Money, language: str) -> str:
    """A price as shown and spoken: "$19.99" (en), "19,99 €" (de), "19.99 CHF", bare "19,99".

    Deterministic: whole amounts keep their decimals ("£5.00"), a currency without minor units
    has none ("¥1,299"). Spaces are plain spaces, so the text survives every stage unchanged.
    """
    number = format_number(money, language)
    if not money.currency:
        return number
    symbol = _SYMBOLS.get(money.currency)
    if symbol is None:
        return f"{number} {money.currency}"
    pattern = _locale(language).currency_formats["standard"].pattern.lstrip(_BIDI_MARKS)
    if pattern.startswith("¤"):
        gap = " " if pattern[1:2].isspace() else ""
        return f"{symbol}{gap}{number}"
    return f"{number} {symbol}"
