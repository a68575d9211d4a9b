"""Text hygiene: whatever a user types must reach the voice and the screen safely."""

from __future__ import annotations

import re
import unicodedata

# Pictographs, dingbats, flags, keycaps, variation selectors, skin tones and joiners used by
# emoji sequences. libass draws no colour emoji and TTS engines read their names aloud, so
# emoji are removed from spoken and burned-in text.
_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"  # mahjong … symbols and pictographs extended-A
    "\U00002600-\U000027bf"  # misc symbols, dingbats
    "\U00002b00-\U00002bff"  # arrows and stars such as ⭐
    "\U0001f1e6-\U0001f1ff"  # regional indicators (flags)
    "\U0000fe00-\U0000fe0f"  # variation selectors
    "\U000e0020-\U000e007f"  # tag characters (subdivision flags)
    "\U000020e3"  # combining keycap
    "\U00002300-\U000023ff"  # technical symbols such as ⌚ ⏰
    "]"
)
# Bidi embedding/override/isolate controls: a stray one flips the rest of a caption line.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"\s+")


def strip_emoji(text: str) -> str:
    """Remove emoji and the invisible characters that build emoji sequences."""
    text = _EMOJI.sub("", text)
    # A zero-width joiner left between two removed emoji would join nothing.
    return re.sub("\u200d+(?=\\s|$)|(?:^|(?<=\\s))\u200d+", "", text)


def clean_text(text: str) -> str:
    """Normalise to NFC, drop control characters and emoji, collapse whitespace."""
    text = unicodedata.normalize("NFC", text)
    text = _BIDI_CONTROLS.sub("", text)
    text = "".join(
        ch for ch in text if ch in "\t\n" or unicodedata.category(ch) not in {"Cc", "Cs", "Co"}
    )
    text = strip_emoji(text)
    return _SPACES.sub(" ", text).strip()


def has_words(text: str) -> bool:
    """True when the text holds at least one letter or digit (in any script)."""
    return any(ch.isalnum() for ch in text)
