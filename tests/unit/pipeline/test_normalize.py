"""Text normalisation: what the voice says for each written word, per language."""

from __future__ import annotations

import random

import pytest

from pipeline.text.normalize import is_abbreviation, normalise_tokens, spoken_form, strip_unspoken
from pipeline.voice.espeak import EspeakVoice
from pipeline.voice.synthesis import speech_tokens

# (language, written token, spoken form), grouped by what is being read.
NUMBERS = [
    ("en", "5", "five"),
    ("en", "1,299", "one thousand two hundred and ninety-nine"),
    ("en", "3.5", "three point five"),
    ("en", "3.05", "three point zero five"),
    ("en", "-5", "minus five"),
    ("en", "10k", "ten thousand"),
    ("de", "1.299", "eintausendzweihundertneunundneunzig"),
    ("de", "3,5", "drei Komma fünf"),
    ("fr", "3,5", "trois virgule cinq"),
    ("fr", "21", "vingt et un"),
    ("es", "3,5", "tres coma cinco"),
    ("es", "1.299", "mil doscientos noventa y nueve"),
]
MONEY = [
    ("en", "€19.99", "nineteen euros and ninety-nine cents"),
    ("en", "$1,299", "one thousand two hundred and ninety-nine dollars"),
    ("en", "$1", "one dollar"),
    ("en", "$0.99", "ninety-nine cents"),
    ("en", "£5", "five pounds"),
    ("en", "$5M", "five million dollars"),
    ("de", "€19.99", "neunzehn Euro und neunundneunzig Cent"),
    ("de", "$1,299", "eintausendzweihundertneunundneunzig Dollar"),
    ("de", "1 €", "ein Euro"),
    ("fr", "19,99 €", "dix-neuf euros et quatre-vingt-dix-neuf centimes"),
    ("fr", "$1,299", "mille deux cent quatre-vingt-dix-neuf dollars"),
    ("es", "€19.99", "diecinueve euros y noventa y nueve céntimos"),
    ("es", "21 €", "veintiún euros"),
    ("es", "$1", "un dólar"),
]
PERCENT_AND_UNITS = [
    ("en", "25%", "twenty-five percent"),
    ("en", "350ml", "three hundred and fifty milliliters"),
    ("en", "5kg", "five kilograms"),
    ("en", "10km", "ten kilometers"),
    ("en", "1kg", "one kilogram"),
    ("en", "25°C", "twenty-five degrees Celsius"),
    ("de", "25%", "fünfundzwanzig Prozent"),
    ("de", "25 %", "fünfundzwanzig Prozent"),
    ("de", "1kg", "ein Kilogramm"),
    ("de", "10km", "zehn Kilometer"),
    ("fr", "25%", "vingt-cinq pour cent"),
    ("fr", "350ml", "trois cent cinquante millilitres"),
    ("es", "25%", "veinticinco por ciento"),
    ("es", "5kg", "cinco kilogramos"),
]
DATES_TIMES_ORDINALS = [
    ("en", "2026-11-24", "November twenty-fourth, twenty twenty-six"),
    ("en", "11/24/2026", "November twenty-fourth, twenty twenty-six"),
    ("en", "10:30", "ten thirty"),
    ("en", "10:05", "ten oh five"),
    ("en", "10:00", "ten o'clock"),
    ("en", "3pm", "three p m"),
    ("en", "1st", "first"),
    ("en", "2nd", "second"),
    ("en", "1990s", "nineteen nineties"),
    ("de", "2026-11-24", "vierundzwanzigster November zweitausendsechsundzwanzig"),
    ("de", "24.11.2026", "vierundzwanzigster November zweitausendsechsundzwanzig"),
    ("de", "10:30", "zehn Uhr dreißig"),
    ("fr", "2026-11-01", "premier novembre deux mille vingt-six"),
    ("fr", "24/11/2026", "vingt-quatre novembre deux mille vingt-six"),
    ("fr", "10:30", "dix heures trente"),
    ("fr", "1er", "premier"),
    ("fr", "2e", "deuxième"),
    ("es", "2026-11-24", "veinticuatro de noviembre de dos mil veintiséis"),
    ("es", "10:30", "las diez y treinta"),
    ("es", "2ª", "segunda"),
]
ABBREVIATIONS = [
    ("en", "e.g.", "for example"),
    ("en", "E.g.,", "for example,"),
    ("en", "etc.", "et cetera"),
    ("en", "vs.", "versus"),
    ("en", "Dr.", "Doctor"),
    ("en", "&", "and"),
    ("en", "No.5", "number five"),
    ("de", "z.B.", "zum Beispiel"),
    ("de", "usw.", "und so weiter"),
    ("de", "&", "und"),
    ("de", "Nr.5", "Nummer fünf"),
    ("fr", "etc.", "et cetera"),
    ("fr", "&", "et"),
    ("fr", "n°5", "numéro cinq"),
    ("es", "Sr.", "señor"),
    ("es", "&", "y"),
]
PUNCTUATION_AND_MARKUP = [
    ("en", "$5.", "five dollars."),
    ("en", "25%,", "twenty-five percent,"),
    ("en", "(€5)", "(five euros)"),
    ("en", "3.5?", "three point five?"),
    ("en", "**€5**!", "five euros!"),
    ("en", "#coffee", "coffee"),
    ("en", "#DailyTips", "Daily Tips"),
    ("en", "#1", "number one"),
    ("en", "https://example.com/a", ""),
    ("en", "www.example.com.", "."),
    ("en", "**", ""),
    ("en", "#", ""),
    ("en", "`code`", "code"),
    ("en", "🚀", ""),
    ("en", "snake_case", "snake_case"),
    ("en", "COVID-19", "COVID-19"),
]


@pytest.mark.parametrize(
    ("language", "token", "spoken"),
    NUMBERS + MONEY + PERCENT_AND_UNITS + DATES_TIMES_ORDINALS + ABBREVIATIONS
    + PUNCTUATION_AND_MARKUP,
)
def test_spoken_form(language: str, token: str, spoken: str) -> None:
    """Each written token reads as the words a speaker of the language would say."""
    assert spoken_form(token, language) == spoken


@pytest.mark.parametrize(
    ("language", "tokens", "spoken"),
    [
        ("en", ["350", "ml"], ["three hundred and fifty", "milliliters"]),
        ("en", ["1", "kg"], ["one", "kilogram"]),
        ("en", ["costs", "€", "19.99,"], ["costs", "", "nineteen euros and ninety-nine cents,"]),
        ("en", ["19.99", "EUR"], ["nineteen euros and ninety-nine cents", ""]),
        ("en", ["No.", "5"], ["number", "five"]),
        ("en", ["say", "No."], ["say", "No."]),
        ("en", ["in", "2026"], ["in", "twenty twenty-six"]),
        ("en", ["Tea", "etc.", "Then"], ["Tea", "et cetera.", "Then"]),
        ("en", ["5", "m"], ["five", "meters"]),
        ("en", ["I", "am"], ["I", "am"]),
        ("de", ["1", "kg"], ["ein", "Kilogramm"]),
        ("de", ["19,99 €"], ["neunzehn Euro und neunundneunzig Cent"]),
        ("fr", ["350", "ml"], ["trois cent cinquante", "millilitres"]),
        ("fr", ["15", "h"], ["quinze", "heures"]),
        ("es", ["1", "km"], ["un", "kilómetro"]),
        ("en", ["salt &", "pepper"], ["salt and", "pepper"]),
    ],
)
def test_normalise_tokens_reads_neighbours(language: str, tokens: list[str],
                                           spoken: list[str]) -> None:
    """A unit or currency in its own token is read with the number beside it."""
    assert normalise_tokens(tokens, language) == spoken


@pytest.mark.parametrize(
    ("language", "token", "spoken"),
    [
        ("it", "5", "cinque"),  # num2words spells Italian numbers...
        ("it", "25%", "venticinque percento"),  # ...and babel names its units
        ("it", "&", "&"),  # but there is no abbreviation table for Italian
        ("zh", "25", "25"),  # num2words has no Chinese: the engine reads the digits
        ("xx", "€19.99", "€19.99"),
        ("xx", "word", "word"),
    ],
)
def test_other_languages_fall_back(language: str, token: str, spoken: str) -> None:
    """Languages without tables get what the libraries know and keep the rest as written."""
    assert spoken_form(token, language) == spoken


def test_spoken_form_uses_its_context() -> None:
    """`previous`/`following` give one token the neighbours normalise_tokens would."""
    assert spoken_form("ml", "en", previous="350") == "milliliters"
    assert spoken_form("No.", "en", following="5") == "number"
    assert spoken_form("No.", "en") == "No."


def test_language_tags_reduce_to_their_base() -> None:
    """Regional tags such as en-US and pt_BR read like their language."""
    assert spoken_form("€19.99", "en-US") == spoken_form("€19.99", "en")
    assert spoken_form("3,5", "pt_BR") == "três vírgula cinco"


SAMPLE_TOKENS = ["€19.99", "$1,299", "25%", "350", "ml", "kg", "3.5", "2026-11-24", "1st", "e.g.",
                 "etc.", "No.", "5", "&", "10:30", "#coffee", "**bold**", "**", "#", "🚀",
                 "https://x.com", "EUR", "€", "word,", "Hello!", "1990s", "salt &", "«quote»"]


@pytest.mark.parametrize("language", ["en", "de", "fr", "es", "it", "ru", "ja", "xx"])
def test_normalise_tokens_stays_aligned(language: str) -> None:
    """Any run of tokens gives one spoken form per token; unspoken tokens give ""."""
    rng = random.Random(language)
    for _ in range(200):
        tokens = rng.choices(SAMPLE_TOKENS, k=rng.randint(0, 8))
        spoken = normalise_tokens(tokens, language)
        assert len(spoken) == len(tokens)
        for i, (token, form) in enumerate(zip(tokens, spoken, strict=True)):
            number_follows = i + 1 < len(tokens) and tokens[i + 1][:1].isdigit()
            if token in {"**", "🚀", "https://x.com"} or (token == "#" and not number_follows):
                assert form == ""  # "# 5" is "number five", a lone "#" is markup


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("See https://example.com/a?b=1 now", "See now"),
        ("Visit www.example.com.", "Visit."),
        ("**Bold** and __strong__ and _italic_ and *soft*", "Bold and strong and italic and soft"),
        ("Run `pip install` first", "Run pip install first"),
        ("Read [the guide](https://example.com) today", "Read the guide today"),
        ("# Title\n## Sub title\n> quoted\n- item", "Title\nSub title\nquoted\nitem"),
        ("Launch day 🚀🔥 is here", "Launch day is here"),
        ("Morning #coffee routine", "Morning #coffee routine"),
        ("snake_case_name and 2*3*4 stay", "snake_case_name and 2*3*4 stay"),
        ("Costs €19.99 & more", "Costs €19.99 & more"),
        ("** stray ** markers", "stray markers"),
    ],
)
def test_strip_unspoken(text: str, shown: str) -> None:
    """URLs, markdown markup and emoji go; hashtags, prices and prose symbols stay."""
    assert strip_unspoken(text) == shown


def test_strip_unspoken_then_tokens_align_with_speech() -> None:
    """Narration cleaned by strip_unspoken tokenises to words that all have a spoken form."""
    tokens = speech_tokens(strip_unspoken("**Save** €19.99 on [coffee](https://x.com) ☕ #deal!"))
    assert tokens == ["Save", "€19.99", "on", "coffee", "#deal!"]
    assert normalise_tokens(tokens, "en") == [
        "Save", "nineteen euros and ninety-nine cents", "on", "coffee", "deal!"]


@pytest.mark.parametrize(
    ("token", "following", "expected"),
    [("Dr.", "Smith", True), ("e.g.", "tea", True), ("No.", "5", True), ("No.", "Then", False),
     ("etc.", "Then", False), ("word.", "Then", False), ("Dr", "Smith", False)],
)
def test_is_abbreviation(token: str, following: str, expected: bool) -> None:
    """Only an abbreviation's own dot is reported, so sentences are not split after "Dr."."""
    assert is_abbreviation(token, "en", following=following) is expected


def test_espeak_speaks_the_expansion(espeak: EspeakVoice) -> None:
    """espeak-ng takes visibly longer to say the normalised "€19.99" than the bare "19"."""
    expanded = espeak.speak(normalise_tokens(["€19.99"], "en"))
    bare = espeak.speak(["19"])
    assert len(expanded.samples) > 2 * len(bare.samples)
    assert expanded.token_starts[0] is not None
