"""Text drawn once by libass on a canvas of its own and lifted off as straight-alpha images,
for the encoder to overlay: how the text cards and the caption states are made.

Each canvas frame is drawn twice, over black and over white, by one libass: the
difference between the two is the coverage, exactly, shadows' half-transparent colour
included (libass's own alpha plane, `ass=alpha=1`, multiplies a colour's alpha in twice).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from pipeline.tools import read_frames

# The canvas's own clock: one group of text per frame (ASS keeps centiseconds).
CANVAS_FPS = 10


def canvas_times(first: int, last: int) -> tuple[float, float]:
    """(start, end) seconds of an event drawn on canvas frames first..last.

    Canvas frame k is drawn over black at k * 0.1 s and over white at k * 0.1 + 0.05 s. The
    event starts a little before, since libass reads the time in whole milliseconds and
    k * 0.1 can land a hair short, and ends before the next frame.
    """
    step = 1 / CANVAS_FPS
    return max(0.0, first * step - 0.02), last * step + 0.08


Box = tuple[int, int, int, int]  # left, top, right, bottom


def draw_canvas(ass_name: str, width: int, height: int, frames: int, workdir: Path, *,
                crop: Box | None = None, ffmpeg: str = "ffmpeg", timeout: float = 120.0
                ) -> Iterator[np.ndarray]:
    """Each canvas frame of `ass_name` (a file in `workdir`), cut to `crop`, as a
    (2, height, width, 3) array: drawn over black, then over white."""
    left, top, right, bottom = crop or (0, 0, width, height)
    cut = "" if crop is None else f",crop={right - left}:{bottom - top}:{left}:{top}"
    ground = f"s={width}x{height}:r={CANVAS_FPS},format=rgb24,settb=1/{2 * CANVAS_FPS}"
    # One libass draws both grounds, black and white in turn, so it renders each glyph once.
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-filter_complex",
            f"color=c=black:{ground}[black];color=c=white:{ground},setpts=PTS+1[white];"
            f"[black][white]interleave,ass={ass_name}{cut}", "-fps_mode", "passthrough",
            "-frames:v", str(2 * frames),
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    shape = (2, bottom - top, right - left, 3)
    for data in read_frames(argv, int(np.prod(shape)), cwd=workdir, timeout=timeout):
        yield np.frombuffer(data, np.uint8).reshape(shape)


def drawn_box(pair: np.ndarray) -> Box | None:
    """The even-sided box (for 4:2:0) around what the text covers, or None when it covers
    nothing (only spaces)."""
    height, width = pair.shape[1:3]
    # Byte-wise over whole rows: a reduction over the 3 channels of each pixel is 10x slower.
    drawn = ((pair[0].reshape(height, -1) != 0) | (pair[1].reshape(height, -1) != 255))
    rows, cols = np.nonzero(drawn.any(axis=1))[0], np.nonzero(drawn.any(axis=0))[0] // 3
    if not len(rows):
        return None
    top, left = int(rows[0]) // 2 * 2, int(cols[0]) // 2 * 2
    bottom = min(height, (int(rows[-1]) + 2) // 2 * 2)
    right = min(width, (int(cols[-1]) + 2) // 2 * 2)
    return left, top, right, bottom


def straight_alpha(pair: np.ndarray) -> np.ndarray:
    """The (height, width, 4) RGBA pixels, straight alpha, of text drawn over black
    (pair[0] = colour x alpha) and over white (pair[1])."""
    # 16-bit all through (colour x 255 still fits), in place where it can be: a caption
    # video has a state to lift off every few frames.
    colour = pair[0].astype(np.uint16)
    spread = pair[1].astype(np.int16) - colour.astype(np.int16)
    alpha = (255 - np.clip(np.maximum(np.maximum(spread[..., 0], spread[..., 1]), spread[..., 2]),
                           0, 255)).astype(np.uint16)
    shown = np.maximum(alpha, 1)[..., None]
    colour *= 255
    colour += shown // 2
    colour //= shown
    rgba = np.empty((*pair.shape[1:3], 4), np.uint8)
    rgba[..., :3] = np.minimum(colour, 255)
    rgba[..., 3] = alpha
    return rgba


def write_png(rgba: np.ndarray, out: Path) -> None:
    """An RGBA PNG, quickly: rows unfiltered, zlib at its fastest (half of Pillow's time on
    caption images, which are mostly transparent and compress well all the same)."""
    height, width = rgba.shape[:2]
    rows = np.zeros((height, width * 4 + 1), np.uint8)  # each row: filter type 0, pixels
    rows[:, 1:] = rgba.reshape(height, -1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    out.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                    + chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)) + chunk(b"IEND", b""))


def write_listing(out: Path, shown: Sequence[tuple[str, int, int]], blank: str, fps: int, *,
                  start: int = 0) -> None:
    """An ffconcat listing from frame `start` on: each (image, first frame, end frame) in
    order, `blank` where none shows, then `blank` on one frame, ending the stream; the image
    demuxer's clock set to the frame rate, so each image starts on its frame exactly."""
    entries: list[tuple[str, int]] = []
    until = start
    for name, first, end in shown:
        if first > until:
            entries.append((blank, first - until))
        if entries and entries[-1][0] == name and first <= until:
            entries[-1] = (name, entries[-1][1] + end - first)
        else:
            entries.append((name, end - first))
        until = end
    lines = ["ffconcat version 1.0"]
    for name, frames in entries:
        lines += [f"file {name}", f"option framerate {fps}", f"duration {frames / fps:.6f}"]
    lines += [f"file {blank}", f"option framerate {fps}"]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
