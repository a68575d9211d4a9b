"""Which language an idea is in: clear texts are detected, short unclear ones get the default."""

from __future__ import annotations

import pytest

from pipeline.text.language import detect_language

# Short product ideas the fast detector used to give to Dutch, Swedish, Danish or Romanian.
SHORT_ENGLISH = ["Why kites fly", "Best running shoes", "Summer dresses on sale",
                 "Smart watch for runners", "Organic face cream", "Wireless earbuds review",
                 "Vegan protein powder", "Dog chew toys", "Cast iron skillet care",
                 "Yoga mat comparison", "New ceramic mug", "Leather wallet gift idea"]


@pytest.mark.parametrize("idea", SHORT_ENGLISH)
def test_short_english_ideas_stay_english(idea: str) -> None:
    """A few English words are never taken for a neighbouring language."""
    assert detect_language(idea) == "en"


@pytest.mark.parametrize(("idea", "language"), [
    ("Warum Drachen fliegen", "de"),
    ("Sommerkleider im Angebot", "de"),
    ("Varför drakar flyger", "sv"),
    ("Beste hardloopschoenen", "nl"),
    ("Почему кофе горький", "ru"),
    ("لماذا تخرخر القطط؟", "ar"),
    ("Pourquoi le café froid est plus doux", "fr"),
    ("Cinco razones para beber más agua hoy", "es"),
])
def test_clear_texts_keep_their_language(idea: str, language: str) -> None:
    """Short texts that clearly belong to a language, and longer ones, are detected."""
    assert detect_language(idea) == language


def test_unclear_short_text_gets_the_callers_default() -> None:
    """When a short text is unclear, the default the caller passes (a profile's) is used."""
    assert detect_language("Zapatillas para correr", default="es") == "es"
    assert detect_language("Espresso", default="de") == "de"
    assert detect_language("🚀🔥", default="fr") == "fr"
