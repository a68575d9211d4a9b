"""Which language a text is written in (ISO 639-1), for choosing voices and templates."""

from __future__ import annotations

import functools
from typing import Any

# Languages we can both detect reliably and speak (espeak-ng covers all of them; Piper most).
# Close neighbours we cannot voice differently (Marathi next to Hindi, Ganda next to English
# on one-word ideas) are left out on purpose: they only ever produced wrong guesses.
SUPPORTED_LANGUAGES: tuple[str, ...] = (
    "ar", "bn", "cs", "da", "de", "el", "en", "es", "fa", "fi", "fr", "he", "hi", "hu", "id",
    "it", "ja", "ko", "nb", "nl", "pl", "pt", "ro", "ru", "sv", "ta", "tr", "uk", "vi", "zh",
)
# Below this confidence a mixed text is treated as the default language. A few words say
# little about their language: on short product ideas ("Best running shoes", "Why kites fly")
# the fast detector led with Dutch or Swedish about half the time, and always below 0.9, while
# clear short texts ("Warum Drachen fliegen") score 0.9 and more. The accurate mode would
# tell them apart but keeps ~450 MB of models in every API and worker process.
MIN_CONFIDENCE = 0.35
MIN_CONFIDENCE_SHORT = 0.9
SHORT_TEXT_WORDS = 5


@functools.lru_cache(maxsize=1)
def _detector() -> Any:
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = [getattr(IsoCode639_1, code.upper()) for code in SUPPORTED_LANGUAGES]
    return LanguageDetectorBuilder.from_iso_codes_639_1(*codes).with_low_accuracy_mode().build()


def detect_language(text: str, default: str = "en") -> str:
    """The most likely language of the text, or `default` when unsure."""
    if not any(ch.isalpha() for ch in text):
        return default
    values = _detector().compute_language_confidence_values(text)
    needed = MIN_CONFIDENCE_SHORT if len(text.split()) < SHORT_TEXT_WORDS else MIN_CONFIDENCE
    if not values or values[0].value < needed:
        return default
    return str(values[0].language.iso_code_639_1.name.lower())


def base_language(code: str) -> str:
    """`en_US`, `en-us` or `EN` → `en`."""
    return code.replace("_", "-").split("-")[0].lower()
