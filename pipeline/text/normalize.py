"""Text normalisation before synthesis: what to say for each written word, per language.

Captions show the script's words as written; the voice speaks their spoken forms. Both come
from the same tokens, so `normalise_tokens` keeps them aligned 1:1 and the voice stage can
report when each *written* token starts. Numbers, money, percentages, units and dates are
spelled with num2words and babel; a token this module cannot read is left as written, and the
engine (espeak-ng reads digits in its own language) does what it can with it.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_decimal, get_currency_name, get_decimal_symbol
from babel.units import UnknownUnitError, format_unit
from num2words import CONVERTER_CLASSES, num2words

from pipeline.text.clean import strip_emoji

# --- text shown and spoken ---------------------------------------------------------------------

_MD_LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\s]*\)")
_URL = re.compile(r"[ \t]*(?:https?://|www\.)\S*[^\s.,!?;:'\")\]]", re.IGNORECASE)
# Paired emphasis only: a lone `*` or a snake_case name is prose, not markup.
_MD_EMPHASIS = re.compile(r"(?<![\w*~])(\*\*|__|\*|_|~~)(?=\S)(.+?)(?<=\S)\1(?![\w*~])")
_MD_CODE = re.compile(r"`+([^`\n]*)`+")
# Headings, quotes and bullets at a line start; "#coffee" (no space) is a hashtag and stays.
_MD_LINE_MARKER = re.compile(r"^[ \t]*(?:#{1,6}|>+|[-*+])[ \t]+", re.MULTILINE)
_MARKUP_ONLY = re.compile(r"(?<!\S)[#*_`~>]+(?!\S)")
_BLANKS = re.compile(r"[ \t]{2,}")


def strip_unspoken(text: str) -> str:
    """Remove URLs, markdown markup and emoji, so captions show only what the voice says."""
    text = _MD_LINK.sub(r"\1", text)
    text = _URL.sub("", text)
    text = _MD_CODE.sub(r"\1", text)
    previous = None
    while previous != text:  # nested emphasis such as **_this_**
        previous, text = text, _MD_EMPHASIS.sub(r"\2", text)
    text = _MD_LINE_MARKER.sub("", text)
    text = _MARKUP_ONLY.sub("", strip_emoji(text))
    return "\n".join(_BLANKS.sub(" ", line).strip() for line in text.splitlines()).strip()


# --- per-language tables -----------------------------------------------------------------------
# Only what num2words and babel do not know: the words for "&", abbreviations, how a clock
# time is read. Other languages still get numbers, money, percent, units and dates.

_ABBREVIATIONS: dict[str, dict[str, str]] = {
    "en": {"&": "and", "e.g.": "for example", "i.e.": "that is", "etc.": "et cetera",
           "vs.": "versus", "vs": "versus", "Dr.": "Doctor", "Mr.": "Mister", "Mrs.": "Missus",
           "Prof.": "Professor", "approx.": "approximately", "w/": "with"},
    "de": {"&": "und", "z.B.": "zum Beispiel", "d.h.": "das heißt", "usw.": "und so weiter",
           "bzw.": "beziehungsweise", "ca.": "circa", "Dr.": "Doktor", "Prof.": "Professor",
           "inkl.": "inklusive", "ggf.": "gegebenenfalls", "u.a.": "unter anderem",
           "vs.": "versus"},
    "fr": {"&": "et", "etc.": "et cetera", "M.": "Monsieur", "Mme": "Madame", "Mme.": "Madame",
           "Mlle": "Mademoiselle", "Dr": "docteur", "Dr.": "docteur", "env.": "environ",
           "vs": "contre", "vs.": "contre", "c.-à-d.": "c'est-à-dire", "p.ex.": "par exemple"},
    "es": {"&": "y", "etc.": "etcétera", "Sr.": "señor", "Sra.": "señora", "Srta.": "señorita",
           "Dr.": "doctor", "Dra.": "doctora", "aprox.": "aproximadamente", "p.ej.": "por ejemplo",
           "vs.": "contra", "EE.UU.": "Estados Unidos", "Ud.": "usted", "Uds.": "ustedes"},
}
# Said as "number" only when a number follows: "No." alone is the English word "no".
_NUMBER_SIGNS: dict[str, dict[str, str]] = {
    "en": {"No.": "number", "no.": "number", "#": "number"},
    "de": {"Nr.": "Nummer", "#": "Nummer"},
    "fr": {"n°": "numéro", "N°": "numéro", "no": "numéro", "#": "numéro"},
    "es": {"núm.": "número", "nº": "número", "Nº": "número", "n.º": "número", "#": "número"},
}
# These end sentences often; their dot is then the full stop too, which keeps the intonation.
_SENTENCE_FINAL = {"etc.", "usw.", "u.a."}
# The "one" that goes before a noun: "ein Euro", "un kilo", "veintiún euros".
_ONE_BEFORE_NOUN: dict[str, Callable[[str], str]] = {
    "de": lambda w: w[:-1] if w.endswith("eins") else w,
    "es": lambda w: w[:-3] + "ún" if w.endswith("veintiuno") else (
        w[:-1] if w.endswith("uno") else w),
    "it": lambda w: w[:-1] if w.endswith("uno") else w,
}
_ENGLISH_YEAR_CUES = {"in", "since", "by", "until", "from", "of", "year", "before", "after"}

_SYMBOL_CURRENCIES = {"€": "EUR", "$": "USD", "US$": "USD", "£": "GBP", "¥": "JPY", "₹": "INR",
                      "₽": "RUB", "₩": "KRW", "₺": "TRY"}
_CURRENCY_CODES = {"EUR", "USD", "GBP", "CHF", "JPY", "CAD", "AUD", "INR", "CNY", "SEK", "NOK",
                   "DKK", "PLN", "CZK", "BRL", "MXN", "RUB", "TRY"}
_MAGNITUDES = {"k": 1000, "K": 1000, "m": 10**6, "M": 10**6, "bn": 10**9, "B": 10**9}
# Written unit → CLDR unit id (babel names it in every language it knows).
_UNITS = {
    "mm": "length-millimeter", "cm": "length-centimeter", "m": "length-meter",
    "km": "length-kilometer", "ft": "length-foot", "mi": "length-mile",
    "mg": "mass-milligram", "g": "mass-gram", "kg": "mass-kilogram", "lb": "mass-pound",
    "lbs": "mass-pound", "oz": "mass-ounce", "ml": "volume-milliliter", "mL": "volume-milliliter",
    "cl": "volume-centiliter", "l": "volume-liter", "L": "volume-liter",
    "s": "duration-second", "sec": "duration-second", "min": "duration-minute",
    "h": "duration-hour", "hrs": "duration-hour", "ms": "duration-millisecond",
    "W": "power-watt", "kW": "power-kilowatt", "kWh": "energy-kilowatt-hour",
    "kcal": "energy-kilocalorie", "MB": "digital-megabyte", "GB": "digital-gigabyte",
    "TB": "digital-terabyte", "GHz": "frequency-gigahertz", "km/h": "speed-kilometer-per-hour",
    "mph": "speed-mile-per-hour", "°C": "temperature-celsius", "°F": "temperature-fahrenheit",
    "°": "angle-degree", "%": "concentr-percent", "‰": "concentr-permille",
}
# Glued to a number "s" is a plural ("1990s", "10s"), so seconds need a space: "5 s".
_UNIT_PATTERN = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True) if u != "s")

_NUM = r"[-−]?\d+(?:[.,'’\u00a0\u202f]\d+)*"
_NUMBER = re.compile(rf"{_NUM}")
_MONEY = re.compile(rf"(?P<pre>US\$|[€$£¥₹₽₩₺])?(?P<num>{_NUM})(?P<mag>bn|[kKmMB])?"
                    rf"(?P<post>[€$£¥₹₽₩₺])?")
_WITH_UNIT = re.compile(rf"(?P<num>{_NUM})(?P<unit>{_UNIT_PATTERN})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DAY_FIRST_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_SLASH_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_TIME = re.compile(r"(\d{1,2})(?::(\d{2}))?(?:\s?([ap])\.?m\.?)?", re.IGNORECASE)
_ORDINAL = {"en": re.compile(r"(\d+)(?:st|nd|rd|th)"), "fr": re.compile(r"(\d+)(er|re|e|ème)"),
            "es": re.compile(r"(\d+)\.?([ºª])")}
_HASHTAG = re.compile(r"#(\w+)")
_DECADE = re.compile(r"(\d{2}|\d{4})'?s")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|_+")
_LEAD = re.compile(r"^[\"'“”‘’„«»‹›(\[{¿¡*_`~]*")
_TRAIL = re.compile(r"[\"'“”‘’„«»‹›)\]}.,!?;:…*_`~]*$")
_MARKDOWN_CHARS = str.maketrans("", "", "*_`~")
_MARKUP_TOKEN = re.compile(r"[#*_`~>]+")


@dataclass(frozen=True)
class _Language:
    """What the libraries know of one language."""

    code: str  # base ISO code: "en"
    num2words: str | None  # num2words' name for it, None when it cannot spell numbers
    locale: Locale | None  # None when babel has no data for it

    @property
    def decimal_symbol(self) -> str:
        """The character that starts the decimals: "." in English, "," in German."""
        return get_decimal_symbol(self.locale) if self.locale else "."


@functools.lru_cache(maxsize=64)
def _language(language: str) -> _Language:
    """Resolve "en", "en-US" or "pt_BR" to what num2words and babel know of it."""
    full = language.replace("-", "_")
    base = full.split("_")[0].lower()
    n2w = next((name for name in (full, base) if name in CONVERTER_CLASSES), None)
    locale = None
    for name in (full, base):
        try:
            locale = Locale.parse(name)
            break
        except (UnknownLocaleError, ValueError):
            continue
    return _Language(base, n2w, locale)


# --- numbers -------------------------------------------------------------------------------------


def _parse_number(text: str, lang: _Language, *, money: bool = False) -> Decimal | None:
    """Read "1,299.50" (en) or "1.299,50" (de) as a Decimal; None when ambiguous or malformed.

    A lone separator before three digits is a decimal point only where the language writes
    decimals with it, and never in money: "$1,299" is the same amount in every language.
    """
    if not _NUMBER.fullmatch(text):
        return None
    negative = text[0] in "-−"
    body = text.lstrip("-−")
    seps = [ch for ch in body if not ch.isdigit()]
    groups = re.split(r"[.,'’\u00a0\u202f]", body)
    if not seps:
        whole, fraction = body, ""
    elif len(set(seps)) > 1 or (len(seps) == 1 and len(groups[1]) != 3):
        if seps.count(seps[-1]) > 1 or seps[-1] not in ".,":
            return None
        whole, fraction = "".join(groups[:-1]), groups[-1]
        if len(groups) > 2 and any(len(g) != 3 for g in groups[1:-1]):
            return None
    elif len(seps) == 1 and seps[0] == lang.decimal_symbol and not money:
        whole, fraction = groups  # "1.299" in English, "1,299" in German: a decimal
    else:
        if any(len(g) != 3 for g in groups[1:]) or len(groups[0]) > 3:
            return None
        whole, fraction = "".join(groups), ""
    try:
        value = Decimal(f"{whole}.{fraction}" if fraction else whole)
    except InvalidOperation:
        return None
    return -value if negative else value


def _n2w(value: int | Decimal, lang: _Language, to: str = "cardinal") -> str | None:
    """num2words without its grouping commas (they make the voice pause); None if it can't."""
    if lang.num2words is None:
        return None
    try:
        words = num2words(value, lang=lang.num2words, to=to)
    # Its converters fail in their own ways (Polish raises ValueError on negatives, some have
    # no ordinals): a number it cannot spell is left for the engine to read.
    except (NotImplementedError, ValueError, TypeError, AttributeError, KeyError,
            OverflowError, InvalidOperation, IndexError):
        return None
    return re.sub(r"\s*,\s*", " ", str(words)).strip()


def _spell(value: Decimal, lang: _Language) -> str | None:
    """Spell a number; decimals digit by digit after the point word ("three point zero five")."""
    if value < 0:
        converter = CONVERTER_CLASSES.get(lang.num2words or "")
        magnitude = _spell(-value, lang)
        negword = getattr(converter, "negword", None)
        if magnitude is None or not isinstance(negword, str):
            return None
        return f"{negword.strip()} {magnitude}"
    if value == value.to_integral_value():
        return _n2w(int(value), lang)
    converter = CONVERTER_CLASSES.get(lang.num2words or "")
    pointword = getattr(converter, "pointword", None)
    if lang.code == "es" and lang.decimal_symbol == ",":
        pointword = "coma"  # num2words says "punto", which is for Latin America's "3.5"
    if not isinstance(pointword, str):
        # Russian and others inflect the fraction; num2words does it from the Decimal.
        return _n2w(value, lang) if pointword else None
    whole = _n2w(int(value), lang)
    digits = [_n2w(int(d), lang) for d in format(value, "f").split(".")[1]]
    if whole is None or None in digits:
        return None
    return " ".join([whole, pointword, *(d for d in digits if d)])


def _before_noun(words: str, value: Decimal, lang: _Language) -> str:
    """Turn "eins" into "ein", "veintiuno" into "veintiún" when a noun follows."""
    adjust = _ONE_BEFORE_NOUN.get(lang.code)
    return adjust(words) if adjust and value == value.to_integral_value() else words


# --- money, units, dates, times --------------------------------------------------------------


def _currency_name(code: str, amount: Decimal, lang: _Language, *, symbol: bool) -> str | None:
    """The currency's name for this amount; "$" is plain "dollars", "USD" is "US dollars"."""
    forms = getattr(CONVERTER_CLASSES.get(lang.num2words or ""), "CURRENCY_FORMS", {})
    if symbol and code in {"USD", "GBP"} and code in forms:
        # English num2words says "pounds sterling"; for "£" people say "pounds".
        names = ("pound", "pounds") if lang.code == "en" and code == "GBP" else forms[code][0]
        return names[0] if amount == 1 else names[1]
    if lang.locale is None:
        return None
    return get_currency_name(code, count=amount, locale=lang.locale)


def _money(value: Decimal, code: str, lang: _Language, *, symbol: bool) -> str | None:
    """Say an amount: "nineteen euros and ninety-nine cents", "neunzehn Euro und …"."""
    if value < 0:
        return None
    major = int(value)
    minor = int((value - major) * 100) if code != "JPY" else 0
    name = _currency_name(code, Decimal(major), lang, symbol=symbol)
    major_words = _spell(Decimal(major), lang)
    if name is None or major_words is None:
        return None
    spoken = f"{_before_noun(major_words, Decimal(major), lang)} {name}"
    if not minor:
        return spoken
    minor_words = _spell(Decimal(minor), lang)
    forms = getattr(CONVERTER_CLASSES.get(lang.num2words or ""), "CURRENCY_FORMS", {})
    if minor_words is None:
        return None
    if code not in forms:  # no name for the cents: say it as people do, "neunzehn Euro fünfzig"
        return f"{spoken} {minor_words}"
    cents = forms[code][1][0 if minor == 1 else 1]
    cents_phrase = f"{_before_noun(minor_words, Decimal(minor), lang)} {cents}"
    if major == 0:
        return cents_phrase
    conjunction = _ABBREVIATIONS.get(lang.code, {}).get("&")
    return " ".join(part for part in (spoken, conjunction, cents_phrase) if part)


def _unit_phrase(value: Decimal, unit: str, lang: _Language, *, with_number: bool) -> str | None:
    """Name a unit for this value ("millilitres", "Kilogramm"), with the number spelled or not."""
    if lang.locale is None:
        return None
    try:
        phrase = format_unit(value, _UNITS[unit], length="long", locale=lang.locale)
    except (UnknownUnitError, KeyError, ValueError):
        return None
    written = format_decimal(value, locale=lang.locale)
    if written not in phrase:
        return None
    if not with_number:
        return " ".join(phrase.replace(written, " ").split())
    words = _spell(value, lang)
    if words is None:
        return None
    return " ".join(phrase.replace(written, f" {_before_noun(words, value, lang)} ").split())


def _date(text: str, lang: _Language) -> str | None:
    """Say "2026-11-24", "24.11.2026" or "11/24/2026" as the language writes dates out."""
    if lang.locale is None:
        return None
    try:
        if m := _ISO_DATE.fullmatch(text):
            date = datetime.date(int(m[1]), int(m[2]), int(m[3]))
        elif m := _DAY_FIRST_DATE.fullmatch(text):
            date = datetime.date(int(m[3]), int(m[2]), int(m[1]))
        elif m := _SLASH_DATE.fullmatch(text):
            first, second = int(m[1]), int(m[2])
            month_first = lang.code == "en" and first <= 12  # 11/24 in English, 24/11 elsewhere
            month, day = (first, second) if month_first else (second, first)
            date = datetime.date(int(m[3]), month, day)
        else:
            return None
    except ValueError:
        return None
    written = format_date(date, format="long", locale=lang.locale)

    def say(match: re.Match[str]) -> str:
        number, dot = int(match[1]), match[2]
        if number == date.year:
            words = _n2w(number, lang, "year" if lang.code == "en" else "cardinal")
        elif number == date.day and lang.code in {"en", "de"}:
            words = _n2w(number, lang, "ordinal")
            words, dot = (f"{words}r", "") if words and lang.code == "de" and dot else (words, dot)
        elif number == 1 and lang.code == "fr":
            words = "premier"
        else:
            words = _n2w(number, lang)
        return f"{words or match[1]}{dot}"

    return re.sub(r"(\d+)(\.?)", say, written)


def _time(text: str, lang: _Language) -> str | None:
    """Say a clock time: "ten thirty", "zehn Uhr dreißig", "dix heures trente"."""
    m = _TIME.fullmatch(text)
    if not m or (m[2] is None and m[3] is None):
        return None
    hour, minute = int(m[1]), int(m[2] or 0)
    if hour > 24 or minute > 59 or (m[3] and not 1 <= hour <= 12):
        return None
    hours, minutes = _n2w(hour, lang), _n2w(minute, lang)
    if hours is None or minutes is None:
        return None
    if lang.code == "en":
        spoken = hours if not minute else f"{hours} {'oh ' if minute < 10 else ''}{minutes}"
        if m[3]:
            return f"{spoken} {m[3].lower()} m"
        return f"{spoken} o'clock" if not minute else spoken
    if lang.code == "de":
        hours = _before_noun(hours, Decimal(hour), lang)
        return f"{hours} Uhr {minutes}" if minute else f"{hours} Uhr"
    if lang.code == "fr":
        hours = re.sub(r"\bun$", "une", hours)
        spoken = f"{hours} {'heure' if hour <= 1 else 'heures'}"
        return f"{spoken} {minutes}" if minute else spoken
    if lang.code == "es":
        spoken = "la una" if hour == 1 else f"las {hours}"
        return f"{spoken} y {minutes}" if minute else f"{spoken} en punto"
    return f"{hours} {minutes}" if minute else hours


def _ordinal(text: str, lang: _Language) -> str | None:
    """Say "1st", "2e", "3º" as ordinals."""
    pattern = _ORDINAL.get(lang.code)
    m = pattern.fullmatch(text) if pattern else None
    if not m:
        return None
    number = int(m[1])
    if lang.code == "fr" and number == 1:
        return "première" if m[2] == "re" else "premier"
    words = _n2w(number, lang, "ordinal")
    if words and lang.code == "es" and m[2] == "ª":
        words = re.sub(r"o\b", "a", words)  # "vigésima cuarta": the feminine ending
    return words


def _decade(text: str, lang: _Language) -> str | None:
    """Say "1990s" as "nineteen nineties" and "80s" as "eighties" (English)."""
    m = _DECADE.fullmatch(text)
    if lang.code != "en" or not m or not m[1].endswith("0"):
        return None
    words = _n2w(int(m[1]), lang, "year" if len(m[1]) == 4 else "cardinal")
    return words and (f"{words[:-1]}ies" if words.endswith("y") else f"{words}s")


def _hashtag(text: str, lang: _Language) -> str | None:
    """Say "#coffee" as "coffee", "#DailyTips" as "Daily Tips", "#1" as "number one"."""
    m = _HASHTAG.fullmatch(text)
    if not m:
        return None
    if m[1].isdigit():
        word = _NUMBER_SIGNS.get(lang.code, {}).get("#")
        number = _spell(Decimal(m[1]), lang) or m[1]
        return f"{word} {number}" if word else number
    return " ".join(_CAMEL.sub(" ", m[1]).split())


# --- pieces in context ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    """One whitespace-free word split into wrapping punctuation and its core."""

    lead: str
    core: str
    trail: str

    @classmethod
    def split(cls, word: str) -> _Piece:
        word = strip_emoji(_MD_LINK.sub(r"\1", word))
        lead = _LEAD.match(word)
        start = lead.end() if lead else 0
        trail = _TRAIL.search(word, start)
        end = trail.start() if trail else len(word)
        return cls(word[:start], word[start:end], word[end:])

    def wrap(self, spoken: str) -> str:
        """The spoken core inside the written punctuation, markdown markers dropped."""
        if not spoken:
            return "".join(ch for ch in self.trail if ch in ".!?")  # keep a sentence end
        lead, trail = self.lead.translate(_MARKDOWN_CHARS), self.trail.translate(_MARKDOWN_CHARS)
        return f"{lead}{spoken}{trail}"


def _bare_number(piece: _Piece | None, lang: _Language, *, trail_ok: bool = False,
                 money: bool = False) -> Decimal | None:
    """The value of a piece that is only a number, such as "350" before "ml"."""
    if piece is None or piece.lead or (piece.trail and not trail_ok):
        return None
    return _parse_number(piece.core, lang, money=money)


def _currency_of(piece: _Piece | None) -> tuple[str, bool] | None:
    """(ISO code, written as a symbol) for a piece that is only a currency, such as "€"."""
    if piece is None or piece.lead:
        return None
    if piece.core in _SYMBOL_CURRENCIES:
        return _SYMBOL_CURRENCIES[piece.core], True
    if piece.core in _CURRENCY_CODES:
        return piece.core, False
    return None


def _abbreviation(piece: _Piece, following: _Piece | None, lang: _Language) -> str | None:
    """Expand an abbreviation whose dot the punctuation split took ("etc." → "et cetera")."""
    table = _ABBREVIATIONS.get(lang.code, {})
    number_signs = _NUMBER_SIGNS.get(lang.code, {})
    number_follows = following is not None and following.core[:1].isdigit()
    for cut in range(len(piece.trail), -1, -1):
        written, rest = piece.core + piece.trail[:cut], piece.trail[cut:]
        expansion = (table.get(written) or table.get(written.lower())
                     or (number_follows and number_signs.get(written)))
        if not expansion:
            continue
        capital_follows = following is not None and following.core[:1].isupper()
        if written in _SENTENCE_FINAL and capital_follows and not rest:
            rest = "."
        return f"{piece.lead}{expansion}{rest}".translate(_MARKDOWN_CHARS)
    return None


def _say_core(core: str, before: _Piece | None, after: _Piece | None,
              lang: _Language) -> str | None:
    """What to say for a piece's core, given its neighbours; None to leave it as written."""
    if _URL.fullmatch(core) or _MARKUP_TOKEN.fullmatch(core):
        return ""
    for reader in (_date, _time, _ordinal, _decade, _hashtag):
        if (spoken := reader(core, lang)) is not None:
            return spoken
    if m := _MONEY.fullmatch(core):
        symbol = m["pre"] or m["post"]
        value = _parse_number(m["num"], lang, money=bool(symbol))
        if value is not None and m["mag"]:
            value *= _MAGNITUDES[m["mag"]]
        if symbol and not (m["pre"] and m["post"]) and value is not None:
            return _money(value, _SYMBOL_CURRENCIES[symbol], lang, symbol=True)
        if not symbol and m["mag"] in {"k", "K"} and value is not None:
            return _spell(value, lang)  # "10k": ten thousand
    if m := _WITH_UNIT.fullmatch(core):
        value = _parse_number(m["num"], lang)
        return _unit_phrase(value, m["unit"], lang, with_number=True) if value is not None else None
    for sign, word in _NUMBER_SIGNS.get(lang.code, {}).items():
        rest = core[len(sign):]
        if core.startswith(sign) and rest[:1].isdigit() and (
                value := _parse_number(rest, lang)) is not None:
            number = _spell(value, lang)
            return f"{word} {number}" if number else None
    if (value := _parse_number(core, lang)) is not None:
        currency = _currency_of(after) or _currency_of(before)
        if currency:  # "19,99 €", "€ 19.99", "19.99 EUR": the number says the whole amount
            amount = _parse_number(core, lang, money=True)
            if amount is None:
                return None
            return _money(amount, currency[0], lang, symbol=currency[1])
        words = _spell(value, lang)
        if words and after is not None and after.core in _UNITS and not after.lead:
            return _before_noun(words, value, lang)
        prior = before.core.lower() if before else ""
        if lang.code == "en" and prior in _ENGLISH_YEAR_CUES and re.fullmatch(r"1[1-9]\d\d|20\d\d",
                                                                            core):
            return _n2w(int(value), lang, "year")  # "in 2026": "twenty twenty-six"
        return words
    if (value := _bare_number(before, lang)) is not None:
        if _currency_of(_Piece("", core, "")):
            return ""  # the number before already said the currency
        if core in _UNITS:
            return _unit_phrase(value, core, lang, with_number=False)
    if _currency_of(_Piece("", core, "")) and _bare_number(after, lang, trail_ok=True,
                                                             money=True) is not None:
        return ""  # the number after says the currency
    return None


def _speak_pieces(pieces: list[_Piece], lang: _Language) -> list[str]:
    """Spoken form of each piece, reading each one next to its neighbours."""
    spoken = []
    for i, piece in enumerate(pieces):
        before = pieces[i - 1] if i > 0 else None
        after = pieces[i + 1] if i + 1 < len(pieces) else None
        expansion = _abbreviation(piece, after, lang)
        if expansion is not None:
            spoken.append(expansion)
            continue
        said = _say_core(piece.core, before, after, lang) if piece.core else ""
        spoken.append(piece.wrap(piece.core if said is None else said))
    return spoken


def is_abbreviation(token: str, language: str, *, following: str = "") -> bool:
    """Whether the token's final dot belongs to an abbreviation ("Dr.", "e.g."), not a full stop."""
    lang = _language(language)
    words = token.split()
    if not words or not words[-1].endswith("."):
        return False
    piece = _Piece.split(words[-1])
    written = piece.core + piece.trail
    table = _ABBREVIATIONS.get(lang.code, {})
    if written in _SENTENCE_FINAL:
        return False  # "etc." ends a sentence as often as not: let the dot end it
    if written in table or written.lower() in table:
        return True
    return written in _NUMBER_SIGNS.get(lang.code, {}) and following[:1].isdigit()


def spoken_form(token: str, language: str, *, previous: str = "", following: str = "") -> str:
    """What to say for one written token ("€19.99" → "nineteen euros and ninety-nine cents")."""
    lang = _language(language)
    words = token.split()
    before = [_Piece.split(previous.split()[-1])] if previous.split() else []
    after = [_Piece.split(following.split()[0])] if following.split() else []
    pieces = before + [_Piece.split(word) for word in words] + after
    said = _speak_pieces(pieces, lang)[len(before):len(before) + len(words)]
    return " ".join(s for s in said if s)


def normalise_tokens(tokens: list[str], language: str) -> list[str]:
    """Spoken forms aligned 1:1 with the written tokens; "" where nothing is said."""
    lang = _language(language)
    owners: list[int] = []
    pieces: list[_Piece] = []
    for index, token in enumerate(tokens):
        for word in token.split():
            owners.append(index)
            pieces.append(_Piece.split(word))
    said: list[list[str]] = [[] for _ in tokens]
    for owner, spoken in zip(owners, _speak_pieces(pieces, lang), strict=True):
        if spoken:
            said[owner].append(spoken)
    return [" ".join(parts) for parts in said]
