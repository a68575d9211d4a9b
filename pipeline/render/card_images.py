"""The text cards (title, headlines, badges, end card) drawn once each, as images that the
encoder overlays while they show, instead of libass blending them into every frame.

libass's blend costs about 5 ms a 1080x1920 frame for a headline and a badge (2.1 CPU s of a
15 s compilation, a tenth of its render); overlaying the same pixels as one small image costs
a fifth of that. libass still draws them, on a transparent canvas, so they look as before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.render.cards import FADE_MS, write_cards_ass
from pipeline.render.presets import Preset
from pipeline.render.text_canvas import (
    canvas_times,
    draw_canvas,
    drawn_box,
    straight_alpha,
    write_png,
)
from pipeline.render.timeline import Brand, TextLayer


@dataclass(frozen=True)
class CardImage:
    """One group of text layers that show together, drawn once: an RGBA file in the workdir,
    where its top-left corner goes, and when it shows (fading in and out like the ASS did)."""

    name: str
    x: int
    y: int
    start: float
    end: float

    def frames(self, fps: int) -> tuple[int, int]:
        """(first frame, frame count) the card shows on: those whose time is in [start, end)."""
        first = math.ceil(self.start * fps - 1e-6)
        return first, math.ceil(self.end * fps - 1e-6) - first

    def fade(self) -> float:
        """Seconds of each fade, as libass's \\fad gave them (halved on a very short card)."""
        return min(FADE_MS / 1000, (self.end - self.start) / 2)


def draw_card_images(layers: Sequence[TextLayer], preset: Preset, workdir: Path,
                     brand: Brand | None = None, *, ffmpeg: str = "ffmpeg",
                     timeout: float = 120.0) -> list[CardImage]:
    """Draw each group of layers that share a start and an end into `card_NNN.png`, cropped to
    what it covers (even sides, for 4:2:0), with straight alpha."""
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
    for k, ((start, end), pair) in enumerate(zip(groups, frames, strict=True)):
        box = drawn_box(pair)
        if box is None:
            continue  # text that draws nothing (only spaces)
        left, top, right, bottom = box
        name = f"card_{k:03d}.png"
        write_png(straight_alpha(pair[:, top:bottom, left:right]), workdir / name)
        cards.append(CardImage(name, left, top, start, end))
    return cards


def card_chain(card: CardImage, input_index: int, fps: int, label: str) -> str:
    """The filter chain that turns the card's one decoded image into its frames, timed on the
    encoder's clock (time base 1/fps, a frame per tick) and faded in and out."""
    first, count = card.frames(fps)
    fade = card.fade()
    return (f"[{input_index}:v]format=yuva420p,loop=loop={count - 1}:size=1:start=0,"
            f"settb=1/{fps},setpts=N+{first},"
            f"fade=t=in:st={card.start:.6f}:d={fade:.6f}:alpha=1,"
            f"fade=t=out:st={card.end - fade:.6f}:d={fade:.6f}:alpha=1[{label}]")


def card_overlays(cards: Sequence[CardImage], fps: int, first_input: int, video: str
                  ) -> tuple[list[str], list[str], str]:
    """Inputs (`-i` pairs), filter chains and the output label that overlay each card on
    `video` (a label such as "[0:v]"), the cards read as inputs from `first_input` on."""
    inputs: list[str] = []
    chains: list[str] = []
    # A card shorter than a frame would loop its image for ever (loop=-1).
    shown = [card for card in cards if card.frames(fps)[1] > 0]
    for k, card in enumerate(shown):
        inputs += ["-i", card.name]
        chains.append(card_chain(card, first_input + k, fps, f"card{k}"))
        # eof_action=pass: once the card's frames end, the video goes on without it.
        chains.append(f"{video}[card{k}]overlay=x={card.x}:y={card.y}:format=yuv420"
                      f":eof_action=pass[text{k}]")
        video = f"[text{k}]"
    return inputs, chains, video
