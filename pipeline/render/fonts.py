"""Font families by script: libass falls back per glyph, but naming the family is steadier."""

from __future__ import annotations

import unicodedata

# First word of a character's Unicode name → (font family, size factor). Noto Sans Arabic
# draws about 30 % smaller than Noto Sans at the same point size, hence the factors.
_SCRIPT_FAMILIES: dict[str, tuple[str, float]] = {
    "ARABIC": ("Noto Sans Arabic", 1.3),
    "HEBREW": ("Noto Sans Hebrew", 1.1),
    "DEVANAGARI": ("Noto Sans Devanagari", 1.0),
    "BENGALI": ("Noto Sans Bengali", 1.0),
    "TAMIL": ("Noto Sans Tamil", 0.9),
    "THAI": ("Noto Sans Thai", 1.0),
    "CJK": ("Noto Sans CJK SC", 1.0),
    "HIRAGANA": ("Noto Sans CJK JP", 1.0),
    "KATAKANA": ("Noto Sans CJK JP", 1.0),
    "HANGUL": ("Noto Sans CJK KR", 1.0),
}
DEFAULT_FAMILY = "Noto Sans"


def dominant_script(text: str) -> str:
    """The script most letters of the text belong to (LATIN covers every other script)."""
    counts: dict[str, int] = {}
    for ch in text:
        if not ch.isalpha():
            continue
        script = unicodedata.name(ch, "LATIN").split(" ")[0]
        script = script if script in _SCRIPT_FAMILIES else "LATIN"
        counts[script] = counts.get(script, 0) + 1
    return max(counts, key=lambda s: counts[s]) if counts else "LATIN"


def family_for(text: str) -> tuple[str, float]:
    """Font family and size factor for the text's dominant script."""
    return _SCRIPT_FAMILIES.get(dominant_script(text), (DEFAULT_FAMILY, 1.0))


def needs_character_wrap(text: str) -> bool:
    """Scripts written without spaces (CJK, Thai) must be broken between characters."""
    return " " not in text.strip() and dominant_script(text) in {
        "CJK", "HIRAGANA", "KATAKANA", "THAI"}
