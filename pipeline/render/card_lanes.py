"""The drawn text cards as a few streams of images (lanes) that the encoder overlays, each
card in a lane that shows nothing else meanwhile, instead of one encoder input per card.

Each input is decoded as the encoder starts, and held with its filters until its card is
over: 1.5 MB a card, so 32 headlines of a 180 s video made its encoder 50 MB larger than 4
did. A lane is one ffconcat listing of images the size of every card it holds, so only the
image showing now is held; its cards' fades are drawn into images of their own, one a frame
(6 frames each way at 30 fps), with the arithmetic of ffmpeg's `fade=alpha=1`, so the
frames are those the filter gave each card.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.render.text_canvas import Box, write_listing, write_png

if TYPE_CHECKING:
    from pipeline.render.card_images import DrawnCard

_FULL = 65535  # ffmpeg's fade factor for "not faded"


@dataclass(frozen=True)
class CardLane:
    """`listing` (an ffconcat file in the workdir) plays the lane's images from frame
    `first_frame` on; every image is the lane's size and goes at (x, y)."""

    listing: str
    x: int
    y: int
    first_frame: int


def _area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def _union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def assign_lanes(cards: Sequence[DrawnCard], fps: int) -> list[list[DrawnCard]]:
    """The cards that show on at least one frame, in lanes: as few as cards ever show at once,
    each card in a free lane whose box it grows least (the overlay blends the whole box)."""
    lanes: list[list[DrawnCard]] = []
    boxes: list[Box] = []
    ends: list[int] = []
    shown = [card for card in cards if card.frames(fps)[1] > 0]
    for card in sorted(shown, key=lambda c: c.frames(fps)[0]):
        first, count = card.frames(fps)
        free = [k for k in range(len(lanes)) if ends[k] <= first]
        if not free:
            lanes.append([])
            boxes.append(card.box)
            ends.append(0)
            free = [len(lanes) - 1]
        k = min(free, key=lambda k: _area(_union(boxes[k], card.box)) - _area(boxes[k]))
        lanes[k].append(card)
        boxes[k] = _union(boxes[k], card.box)
        ends[k] = first + count
    return lanes


def _ticks(seconds: float, fps: int) -> int:
    """A time option as ffmpeg's filters take it: whole microseconds, then rounded to the
    nearest tick of 1/fps (halves away from zero)."""
    return (2 * round(seconds * 1e6) * fps + 1_000_000) // 2_000_000


def _factor(frame: int, start: float, duration: float, fps: int) -> int:
    """ffmpeg's `fade` factor (0..65535) on a frame for a fade in from `start` (a fade out's
    is 65535 less it): 0 before, 65535 after, in integer ticks as the filter counts them."""
    first, length = _ticks(start, fps), _ticks(duration, fps)
    if frame < first:
        return 0
    if length == 0 or frame > first + length:
        return _FULL
    return (frame - first) * _FULL // length


def fade_factors(card: DrawnCard, fps: int) -> list[tuple[int, int]]:
    """(fade in, fade out) factors on each frame the card shows on."""
    first, count = card.frames(fps)
    fade = card.fade()
    return [(_factor(n, card.start, fade, fps), _FULL - _factor(n, card.end - fade, fade, fps))
            for n in range(first, first + count)]


def faded_alpha(alpha: np.ndarray, factor: int) -> np.ndarray:
    """The alpha plane as `fade=alpha=1` scales it: (a * factor + 32768) >> 16."""
    if factor == _FULL:
        return alpha
    return ((alpha.astype(np.uint32) * factor + 32768) >> 16).astype(np.uint8)


def write_lanes(cards: Sequence[DrawnCard], fps: int, workdir: Path) -> list[CardLane]:
    """Write each lane's images (`lane<L>_<frame>.png`, straight alpha, all of the lane's box)
    and its listing (`lane<L>.ffconcat`): blank where none of its cards shows."""
    lanes = []
    for k, members in enumerate(assign_lanes(cards, fps)):
        left, top, right, bottom = functools.reduce(_union, (card.box for card in members))
        blank = f"lane{k}_blank.png"
        write_png(np.zeros((bottom - top, right - left, 4), np.uint8), workdir / blank)
        shown: list[tuple[str, int, int]] = []
        for card in members:
            image = np.zeros((bottom - top, right - left, 4), np.uint8)
            x, y = card.x - left, card.y - top
            height, width = card.pixels.shape[:2]
            image[y:y + height, x:x + width] = card.pixels
            drawn: dict[tuple[int, int], str] = {}
            for n, factors in enumerate(fade_factors(card, fps), start=card.frames(fps)[0]):
                if factors not in drawn:
                    alpha = faded_alpha(faded_alpha(card.pixels[..., 3], factors[0]), factors[1])
                    if not alpha.any():
                        drawn[factors] = blank
                    else:
                        drawn[factors] = f"lane{k}_{n:05d}.png"
                        image[y:y + height, x:x + width, 3] = alpha
                        write_png(image, workdir / drawn[factors])
                shown.append((drawn[factors], n, n + 1))
        first_frame = members[0].frames(fps)[0]
        write_listing(workdir / f"lane{k}.ffconcat", shown, blank, fps, start=first_frame)
        lanes.append(CardLane(f"lane{k}.ffconcat", left, top, first_frame))
    return lanes


def lane_overlays(lanes: Sequence[CardLane], fps: int, first_input: int, video: str
                  ) -> tuple[list[str], list[str], str]:
    """Inputs, filter chains and the output label that overlay each lane on `video` (a label
    such as "[0:v]"), the listings read as inputs from `first_input` on."""
    inputs: list[str] = []
    chains: list[str] = []
    for k, lane in enumerate(lanes):
        # The listing sets its image demuxer's clock (an option, which "safe" mode refuses).
        inputs += ["-safe", "0", "-f", "concat", "-i", lane.listing]
        # A frame a tick from the lane's first frame; the newest image shows on each frame,
        # and once the listing ends (on a blank) the video goes on without it.
        chains.append(f"[{first_input + k}:v]format=yuva420p,settb=1/{fps},"
                      f"setpts=PTS+{lane.first_frame}[lane{k}]")
        chains.append(f"{video}[lane{k}]overlay=x={lane.x}:y={lane.y}:format=yuv420"
                      f":eof_action=pass[text{k}]")
        video = f"[text{k}]"
    return inputs, chains, video
