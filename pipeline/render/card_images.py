"""The text cards (title, headlines, badges, end card) drawn once each, as images that the
encoder overlays while they show, instead of libass blending them into every frame.

libass's blend costs about 5 ms a 1080x1920 frame for a headline and a badge (2.1 CPU s of a
15 s compilation, a tenth of its render); overlaying the same pixels as one small image costs
a fifth of that. libass still draws them, on a transparent canvas, so they look as before.
The drawn cards go to the encoder in lanes (`card_lanes`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.render.card_lanes import CardLane, write_lanes
from pipeline.render.cards import FADE_MS, write_cards_ass
from pipeline.render.presets import Preset
from pipeline.render.text_canvas import Box, canvas_times, draw_canvas, drawn_box, straight_alpha
from pipeline.render.timeline import Brand, TextLayer


@dataclass(frozen=True)
class DrawnCard:
    """One group of text layers that show together, drawn once: its straight-alpha RGBA
    pixels, where their top-left corner goes, and when it shows (fading in and out as the
    ASS did)."""

    pixels: np.ndarray = field(repr=False, compare=False)
    x: int
    y: int
    start: float
    end: float

    @property
    def box(self) -> Box:
        height, width = self.pixels.shape[:2]
        return self.x, self.y, self.x + width, self.y + height

    def frames(self, fps: int) -> tuple[int, int]:
        """(first frame, frame count) the card shows on: those whose time is in [start, end)."""
        first = math.ceil(self.start * fps - 1e-6)
        return first, math.ceil(self.end * fps - 1e-6) - first

    def fade(self) -> float:
        """Seconds of each fade, as libass's \\fad gave them (halved on a very short card)."""
        return min(FADE_MS / 1000, (self.end - self.start) / 2)


def draw_cards(layers: Sequence[TextLayer], preset: Preset, workdir: Path,
               brand: Brand | None = None, *, ffmpeg: str = "ffmpeg",
               timeout: float = 120.0) -> list[DrawnCard]:
    """Draw each group of layers that share a start and an end, cropped to what it covers
    (even sides, for 4:2:0), with straight alpha; text that draws nothing gives no card."""
    groups: dict[tuple[float, float], list[TextLayer]] = {}
    for layer in layers:
        if layer.end > layer.start:
            groups.setdefault((layer.start, layer.end), []).append(layer)
    if not groups:
        return []
    ordered = [layer for members in groups.values() for layer in members]
    # Group k shows on canvas frame k alone.
    times = [canvas_times(k, k) for k, members in enumerate(groups.values()) for _ in members]
    write_cards_ass(ordered, preset, workdir / "cards_still.ass", brand, times=times, fade_ms=0)
    cards = []
    frames = draw_canvas("cards_still.ass", preset.width, preset.height, len(groups), workdir,
                         ffmpeg=ffmpeg, timeout=timeout)
    for (start, end), pair in zip(groups, frames, strict=True):
        box = drawn_box(pair)
        if box is not None:
            left, top, right, bottom = box
            cards.append(DrawnCard(straight_alpha(pair[:, top:bottom, left:right]),
                                   left, top, start, end))
    return cards


def draw_card_images(layers: Sequence[TextLayer], preset: Preset, workdir: Path,
                     brand: Brand | None = None, *, ffmpeg: str = "ffmpeg",
                     timeout: float = 120.0) -> list[CardLane]:
    """The cards drawn (`draw_cards`) and written into the workdir as lanes of images."""
    cards = draw_cards(layers, preset, workdir, brand, ffmpeg=ffmpeg, timeout=timeout)
    return write_lanes(cards, preset.fps, workdir)
