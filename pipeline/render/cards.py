"""Text over the visuals (title, scene headlines, price badges, end card) as one ASS file."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from pipeline.captions.ass import AssStyle, ass_colour, ass_document, ass_escape, dialogue
from pipeline.render.fonts import DEFAULT_FAMILY, family_for, needs_character_wrap
from pipeline.render.presets import Preset
from pipeline.render.timeline import Brand, TextLayer

FADE_MS = 200
# Vertical centre of each kind of text, as a fraction of the frame height.
_ROWS = {"title": 0.36, "headline": 0.3, "badge": 0.2, "end": 0.38}
_SIZES = {"title": 0.1, "headline": 0.085, "badge": 0.075, "end": 0.1}


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


def text_anchor(kind: str, preset: Preset) -> tuple[int, int]:
    """Centre (x, y) where a kind of text is drawn, inside the safe zone."""
    zone = preset.safe_zone
    left = round(preset.width * zone.left) + preset.width // 20
    right = round(preset.width * zone.right) + preset.width // 20
    y = max(_ROWS[kind], zone.top + 0.06) * preset.height
    return (left + preset.width - right) // 2, round(y)


def write_cards_ass(layers: Sequence[TextLayer], preset: Preset, out: Path,
                    brand: Brand | None = None, *,
                    times: Sequence[tuple[float, float]] | None = None,
                    fade_ms: int = FADE_MS) -> Path:
    """One ASS event per text layer, fading in and out; badges sit on a brand-coloured box.

    `times` replaces each layer's (start, end), and `fade_ms=0` drops the fades: that is how
    `card_images` lays every card out once, on a clock of its own.
    """
    brand = brand or Brand()
    spans = list(times) if times is not None else [(layer.start, layer.end) for layer in layers]
    width = preset.width
    zone = preset.safe_zone
    margin_left = round(width * zone.left) + width // 20
    margin_right = round(width * zone.right) + width // 20
    styles: list[AssStyle] = []
    events = []
    for layer, (start, end) in zip(layers, spans, strict=True):
        family, factor = family_for(layer.text)
        font = brand.font if family == DEFAULT_FAMILY else family
        base = _SIZES[layer.kind] * min(width, preset.height) * factor
        size = _sized(round(base), layer.text, 30 if layer.kind == "headline" else 24)
        name = f"{layer.kind.capitalize()}{len(styles)}"
        badge = layer.kind == "badge"
        styles.append(AssStyle(
            name=name, font=font, size=size, fill=brand.text,
            # A badge is an opaque box (border style 3) in the brand's colour.
            outline_colour=brand.primary if badge else "000000",
            outline=max(3, size // 6) if badge else max(3, size // 14),
            shadow=0 if badge else max(2, size // 20), margin_left=margin_left,
            margin_right=margin_right, border_style=3 if badge else 1,
        ))
        x, y = text_anchor(layer.kind, preset)
        fade = f"\\fad({fade_ms},{fade_ms})" if fade_ms else ""
        chars = max(6, int((width - margin_left - margin_right) / (size * 1.05)))
        text = _wrapped(layer.text, chars)
        if badge and layer.secondary:
            # The regular price, struck through, above the sale price.
            was = f"{{\\s1\\fs{round(size * 0.6)}\\c{ass_colour(brand.accent)}}}"
            text = f"{was}{ass_escape(layer.secondary)}{{\\r}}\\N{text}"
        events.append(dialogue(start, end, name, f"{{\\pos({x},{y}){fade}}}{text}"))
        if layer.secondary and not badge:
            events.append(dialogue(
                start, end, name,
                f"{{\\pos({x},{y + size * 2})\\fs{round(size * 0.5)}{fade}}}"
                f"{_wrapped(layer.secondary, chars * 2)}",
            ))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(ass_document(preset, styles, events), encoding="utf-8")
    return out
