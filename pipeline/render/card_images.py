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

import numpy as np
from PIL import Image

from pipeline.render.cards import FADE_MS, write_cards_ass
from pipeline.render.presets import Preset
from pipeline.render.timeline import Brand, TextLayer
from pipeline.tools import run

# The canvas shows one group of cards per frame at this rate (ASS keeps centiseconds).
_CANVAS_FPS = 10


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
    step = 1 / _CANVAS_FPS
    # Group k shows on canvas frame k alone; its event starts a little before the frame's time,
    # since libass reads the time in whole milliseconds and k * 0.1 can land a hair short.
    times = [(max(0.0, k * step - 0.02), k * step + 0.05)
             for k, members in enumerate(groups.values()) for _ in members]
    write_cards_ass(ordered, preset, workdir / "cards_still.ass", brand, times=times, fade_ms=0)
    width, height = preset.width, preset.height
    raw = workdir / "cards_still.rgb"
    # Each group drawn over black and over white: the difference between the two is the
    # coverage, exactly, shadows' half-transparent colour included (libass's own alpha plane
    # multiplies a colour's alpha in twice).
    canvas = f"s={width}x{height}:r={_CANVAS_FPS},format=rgb24,ass=cards_still.ass"
    run([ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-y", "-filter_complex",
         f"color=c=black:{canvas}[over_black];color=c=white:{canvas}[over_white];"
         "[over_black][over_white]vstack", "-frames:v", str(len(groups)),
         "-f", "rawvideo", "-pix_fmt", "rgb24", raw.name], cwd=workdir, timeout=timeout)
    cards = []
    frame_bytes = width * height * 2 * 3
    with raw.open("rb") as frames:
        for k, (start, end) in enumerate(groups):
            data = frames.read(frame_bytes)
            if len(data) != frame_bytes:
                raise ValueError(f"the card canvas gave {k} of {len(groups)} frames")
            card = _matte(np.frombuffer(data, np.uint8).reshape(2, height, width, 3))
            if card is None:
                continue  # text that draws nothing (only spaces)
            image, left, top = card
            name = f"card_{k:03d}.png"
            image.save(workdir / name, compress_level=1)
            cards.append(CardImage(name, left, top, start, end))
    raw.unlink()
    return cards


def _matte(pair: np.ndarray) -> tuple[Image.Image, int, int] | None:
    """The straight-alpha RGBA image (cropped to even bounds) and its corner, from the same
    text drawn over black (pair[0] = colour x alpha) and over white (pair[1])."""
    height, width = pair.shape[1:3]
    # Byte-wise over whole rows: a reduction over the 3 channels of each pixel is 10x slower.
    drawn = ((pair[0].reshape(height, -1) != 0) | (pair[1].reshape(height, -1) != 255))
    rows, cols = np.nonzero(drawn.any(axis=1))[0], np.nonzero(drawn.any(axis=0))[0] // 3
    if not len(rows):
        return None
    top, left = rows[0] // 2 * 2, cols[0] // 2 * 2
    bottom, right = min(height, (rows[-1] + 2) // 2 * 2), min(width, (cols[-1] + 2) // 2 * 2)
    over_black = pair[0, top:bottom, left:right].astype(np.int32)
    over_white = pair[1, top:bottom, left:right].astype(np.int32)
    spread = over_white - over_black
    alpha = np.clip(255 - np.maximum(np.maximum(spread[..., 0], spread[..., 1]), spread[..., 2]),
                    0, 255)
    shown = np.maximum(alpha, 1)[..., None]
    colour = np.clip((over_black * 255 + shown // 2) // shown, 0, 255)
    rgba = np.dstack([colour, alpha]).astype(np.uint8)
    return Image.fromarray(rgba), int(left), int(top)  # 4 channels of uint8 read as RGBA


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
