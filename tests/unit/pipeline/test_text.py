"""Text hygiene: what users type reaches voice and screen without emoji or control characters."""

from __future__ import annotations

import unicodedata

import pytest

from pipeline.text.clean import clean_text, has_words, strip_emoji


def test_clean_text_normalises_to_nfc() -> None:
    """A decomposed accent (e + combining acute) becomes the single precomposed character."""
    cleaned = clean_text("Cafe\u0301 cre\u0300me")
    assert cleaned == "Café crème"
    assert unicodedata.is_normalized("NFC", cleaned)
    assert len(cleaned) == len("Café crème")


def test_clean_text_drops_controls_and_collapses_whitespace() -> None:
    """NUL, bell, carriage returns and tabs vanish or become single spaces, and ends are trimmed."""
    assert clean_text("  a\x00b\x07\tc\r\n\n  d  ") == "ab c d"


def test_clean_text_drops_bidi_overrides_but_keeps_rtl_letters() -> None:
    """Embedding/override/isolate controls go, while Arabic letters stay in logical order."""
    arabic = "كيف تصنع القهوة"
    cleaned = clean_text(f"\u202e{arabic}\u202c \u2067x\u2069")
    assert cleaned == f"{arabic} x"
    assert not any("\u202a" <= ch <= "\u202e" or "\u2066" <= ch <= "\u2069" for ch in cleaned)


@pytest.mark.parametrize(
    "text",
    [
        'He said "hi" — «ça va ?» ‘ok’',
        "Crème brûlée à la façon de grand-mère",
        "كيف تصنع القهوة؟",
        "如何在家做咖啡",
        "東京で安く食べる方法",
        "한국어 문장",
        "नमस्ते दुनिया",
        r"Braces {\b1} and back\slashes",
    ],
    ids=["quotes", "accents", "arabic", "chinese", "japanese", "korean", "devanagari", "markup"],
)
def test_clean_text_keeps_real_text_unchanged(text: str) -> None:
    """Quotes, accents and non-Latin scripts pass through untouched (they are already NFC)."""
    assert clean_text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Launch 🚀🔥 day", "Launch day"),
        ("Nice 👍🏽 work", "Nice work"),
        ("Paris 🇫🇷 trip", "Paris trip"),
        ("Top 3️⃣ tips", "Top 3 tips"),
        ("Coding 👩‍💻 tips", "Coding tips"),
        ("Coffee ☕ and stars ⭐", "Coffee and stars"),
        ("Wake up ⏰ early", "Wake up early"),
        ("Scotland 🏴󠁧󠁢󠁳󠁣󠁴󠁿 flag", "Scotland flag"),
        ("Heart ❤️ here", "Heart here"),
    ],
    ids=["pictographs", "skin_tone", "flag", "keycap", "zwj_pair", "misc_symbols", "clock",
         "tag_flag", "variation_selector"],
)
def test_clean_text_removes_emoji_sequences(text: str, expected: str) -> None:
    """Each emoji sequence disappears with its modifiers, selectors and joiners."""
    assert clean_text(text) == expected


def test_clean_text_removes_every_joiner_of_a_long_zwj_sequence() -> None:
    """A family emoji made of four people and three joiners leaves no invisible joiner behind."""
    assert clean_text("a 👨‍👩‍👧‍👦 b") == "a b"


def test_strip_emoji_keeps_joiners_inside_words() -> None:
    """A zero-width joiner between letters (used by some scripts) is not an emoji remnant."""
    text = "क्\u200dष"
    assert strip_emoji(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", True),
        ("3", True),
        ("١٢٣", True),
        ("咖啡", True),
        ("كيف", True),
        ("", False),
        ("   ", False),
        ("— … !?", False),
        ("🚀🔥", False),
        ("{}\\", False),
    ],
)
def test_has_words(text: str, expected: bool) -> None:
    """A letter or digit in any script counts as a word; punctuation, symbols and emoji do not."""
    assert has_words(text) is expected
