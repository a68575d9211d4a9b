"""Text cards over the backgrounds: the title, scene headlines and the end card."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.ass import AssStyle, ass_document, ass_escape, dialogue
from pipeline.fonts import family_for, needs_character_wrap
from pipeline.presets import Preset

FADE_MS = 200


@dataclass(frozen=True)
class Card:
    """What one segment of the timeline shows."""

    kind: str  # "title", "scene" or "end"
    headline: str
    subline: str = ""
    palette_index: int = 0


@dataclass(frozen=True)
class TimedCard:
    """A card and when it is on screen."""

    card: Card
    start: float
    end: float


def _wrapped(text: str, chars_per_line: int) -> str:
    """Explicit breaks for scripts written without spaces; libass wraps the others itself."""
    if not needs_character_wrap(text):
        return ass_escape(text)
    lines = [text[i : i + chars_per_line] for i in range(0, len(text), chars_per_line)]
    return "\\N".join(ass_escape(line) for line in lines)


def _sized(base: int, text: str, comfortable_chars: int) -> int:
    """Shrink long text so it keeps to a few lines."""
    if len(text) <= comfortable_chars:
        return base
    return max(base // 2, round(base * math.sqrt(comfortable_chars / len(text))))


def write_cards_ass(cards: Sequence[TimedCard], preset: Preset, out: Path) -> Path:
    """One ASS event per card, centred in the upper part of the frame, fading in and out."""
    width, height = preset.width, preset.height
    zone = preset.safe_zone
    margin_left = round(width * zone.left) + width // 20
    margin_right = round(width * zone.right) + width // 20
    x = (margin_left + width - margin_right) // 2
    styles: dict[str, AssStyle] = {}
    events = []
    for timed in cards:
        card = timed.card
        family, factor = family_for(card.headline)
        base = {"title": 0.1, "scene": 0.085, "end": 0.1}[card.kind] * width * factor
        size = _sized(round(base), card.headline, 24 if card.kind != "scene" else 30)
        style_name = f"{card.kind.capitalize()}{len(styles)}"
        styles[style_name] = AssStyle(
            name=style_name, font=family, size=size, outline=max(3, size // 14),
            shadow=max(2, size // 20), margin_left=margin_left, margin_right=margin_right,
        )
        y = round(height * (0.36 if card.kind == "title" else 0.3))
        fade = f"\\fad({FADE_MS},{FADE_MS})"
        chars = max(6, int((width - margin_left - margin_right) / (size * 1.05)))
        events.append(dialogue(timed.start, timed.end, style_name,
                               f"{{\\pos({x},{y}){fade}}}{_wrapped(card.headline, chars)}"))
        if card.subline:
            sub_size = round(size * 0.5)
            events.append(dialogue(
                timed.start, timed.end, style_name,
                f"{{\\pos({x},{y + size * 2})\\fs{sub_size}{fade}}}"
                f"{_wrapped(card.subline, chars * 2)}",
            ))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(ass_document(preset, list(styles.values()), events), encoding="utf-8")
    return out
