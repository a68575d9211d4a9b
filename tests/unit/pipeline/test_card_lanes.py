"""Text cards in lanes: as few encoder inputs as cards ever show at once, and (real ffmpeg)
the very frames that each card as an input of its own, faded by ffmpeg's fade filter, gave."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pipeline.render.card_images import DrawnCard, draw_cards
from pipeline.render.card_lanes import (
    assign_lanes,
    fade_factors,
    faded_alpha,
    lane_overlays,
    write_lanes,
)
from pipeline.render.presets import get_preset
from pipeline.render.text_canvas import write_png
from pipeline.render.timeline import Brand, TextLayer
from pipeline.tools import read_frames

PRESET = get_preset("tiktok")
W, H, FPS = PRESET.width, PRESET.height, PRESET.fps


def _card(x: int, y: int, width: int, height: int, start: float, end: float) -> DrawnCard:
    return DrawnCard(np.full((height, width, 4), 255, np.uint8), x, y, start, end)


def test_back_to_back_cards_share_a_lane_and_overlapping_ones_do_not() -> None:
    """32 headlines one after another are one lane; a title that overlaps the first is a
    second; no lane shows two cards on one frame; a card shorter than a frame is left out."""
    title = _card(100, 600, 800, 200, 0.0, 2.0)
    headlines = [_card(150 + 2 * (k % 5), 500, 700, 180, 1.9 + 5.5 * k, 1.9 + 5.5 * (k + 1))
                 for k in range(32)]
    blink = _card(0, 0, 10, 10, 3.01, 3.02)
    lanes = assign_lanes([title, blink, *headlines], FPS)
    assert len(lanes) == 2
    assert sorted(id(c) for lane in lanes for c in lane) == sorted(map(id, [title, *headlines]))
    for lane in lanes:
        spans = [c.frames(FPS) for c in lane]
        assert all(a[0] + a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_a_free_card_joins_the_lane_whose_box_it_grows_least() -> None:
    """The top and bottom cards overlap in time, so they open two lanes; the next card near
    the bottom goes with the bottom one, the next near the top with the top one."""
    top, bottom = _card(100, 100, 600, 100, 0.0, 1.0), _card(100, 1500, 600, 100, 0.0, 1.0)
    low, high = _card(120, 1480, 500, 120, 1.0, 2.0), _card(110, 90, 640, 90, 1.0, 2.0)
    lanes = assign_lanes([top, bottom, low, high], FPS)
    assert [[c.y for c in lane] for lane in lanes] == [[100, 90], [1500, 1480]]


def test_fade_factors_rise_and_fall_over_a_fade_each_way() -> None:
    """A 1 s card at 30 fps: from 0 (its first frame, as ffmpeg's fade starts) up to full
    over 0.2 s, full in between, down over its last 0.2 s; a card of 0.1 s fades for half
    its time, 0.05 s, which the filter rounds to 2 frames: in over them, and its fade out
    starts (at 0) on its last frame."""
    factors = fade_factors(_card(0, 0, 2, 2, 1.0, 2.0), FPS)
    assert len(factors) == 30
    ins = [f[0] for f in factors]
    outs = [f[1] for f in factors]
    assert ins[:7] == [k * 65535 // 6 for k in range(7)] and set(ins[7:]) == {65535}
    assert set(outs[:25]) == {65535} and outs[25:] == [65535 - k * 65535 // 6
                                                      for k in range(1, 6)]
    short = fade_factors(_card(0, 0, 2, 2, 1.0, 1.1), FPS)
    assert short == [(0, 65535), (32767, 65535), (65535, 65535)]


@pytest.mark.parametrize(("start", "end"), [(0.0, 0.6), (1.865125, 2.9), (3.0, 3.1)])
def test_faded_alphas_are_those_of_ffmpegs_fade_filter(tmp_path: Path, start: float,
                                                       end: float) -> None:
    """Every alpha value 0-255, on each frame of a card (a fade halved on the shortest),
    is what `fade=alpha=1` in and out made of it, exactly: a raw yuva420p image, so no
    colour conversion rounds it."""
    card = DrawnCard(np.zeros((2, 256, 4), np.uint8), 0, 0, start, end)
    ramp = np.tile(np.arange(256, dtype=np.uint8), (2, 1))
    planes = np.zeros(256 * 2 + 2 * 128, np.uint8).tobytes() + ramp.tobytes()
    (tmp_path / "ramp.yuva").write_bytes(planes)
    first, count = card.frames(FPS)
    fade = card.fade()
    argv = ["ffmpeg", "-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuva420p",
            "-s", "256x2", "-i", "ramp.yuva", "-vf",
            f"loop=loop={count - 1}:size=1:start=0,settb=1/{FPS},setpts=N+{first},"
            f"fade=t=in:st={start:.6f}:d={fade:.6f}:alpha=1,"
            f"fade=t=out:st={end - fade:.6f}:d={fade:.6f}:alpha=1",
            "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "yuva420p", "pipe:1"]
    frames = list(read_frames(argv, len(planes), cwd=tmp_path, timeout=60))
    factors = fade_factors(card, FPS)
    assert len(frames) == len(factors) == count
    for n, (frame, (fade_in, fade_out)) in enumerate(zip(frames, factors, strict=True)):
        theirs = np.frombuffer(frame, np.uint8)[-512:].reshape(2, 256)
        assert (theirs == faded_alpha(faded_alpha(ramp, fade_in), fade_out)).all(), n


LAYERS = (
    TextLayer("title", "Top 5 desk upgrades", 0.0, 0.5),
    TextLayer("headline", "1. Aurora Desk Lamp", 0.5, 1.2),
    TextLayer("badge", "$34.99", 0.5, 1.2, secondary="$49.99"),
    TextLayer("headline", "2. Oak Monitor Stand", 1.1, 1.3),  # overlaps: a lane of its own
    TextLayer("end", "Follow for more", 1.6, 2.0),  # after a gap in the first lane
)
GREY = "color=c=0x646464:s={W}x{H}:r={FPS},format=yuv420p"


def _per_card_reference(cards: list[DrawnCard], workdir: Path) -> tuple[list[str], str]:
    """The encoder's inputs and graph before lanes: each card an image input of its own,
    looped over its frames and faded in and out by ffmpeg's fade filter."""
    inputs, chains, video = [], [], "[0:v]"
    for k, card in enumerate(cards):
        write_png(card.pixels, workdir / f"card_{k}.png")
        first, count = card.frames(FPS)
        fade = card.fade()
        inputs += ["-i", f"card_{k}.png"]
        chains.append(f"[{k + 1}:v]format=yuva420p,loop=loop={count - 1}:size=1:start=0,"
                      f"settb=1/{FPS},setpts=N+{first},"
                      f"fade=t=in:st={card.start:.6f}:d={fade:.6f}:alpha=1,"
                      f"fade=t=out:st={card.end - fade:.6f}:d={fade:.6f}:alpha=1[card{k}]")
        chains.append(f"{video}[card{k}]overlay=x={card.x}:y={card.y}:format=yuv420"
                      f":eof_action=pass[text{k}]")
        video = f"[text{k}]"
    return inputs, ";".join(chains) + f";{video}null[out]"


def _frames(inputs: list[str], graph: str, workdir: Path, count: int) -> Iterator[bytes]:
    argv = ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi",
            "-i", GREY.format(W=W, H=H, FPS=FPS), *inputs, "-filter_complex", graph,
            "-map", "[out]", "-frames:v", str(count), "-f", "rawvideo", "-pix_fmt", "yuv420p",
            "pipe:1"]
    return read_frames(argv, W * H * 3 // 2, cwd=workdir, timeout=120)


def test_lanes_give_the_frames_each_card_faded_by_ffmpeg_gave(tmp_path: Path) -> None:
    """Every frame of 2.2 s, fades, overlap, gap and the end included, is within a level of
    the frame of the graph with an input and a fade filter a card (swscale rounds some alphas
    of some image widths up by one); the lanes are two inputs."""
    cards = draw_cards(LAYERS, PRESET, tmp_path, Brand())
    assert len(cards) == 4
    lanes = write_lanes(cards, FPS, tmp_path)
    assert len(lanes) == 2
    inputs, chains, video = lane_overlays(lanes, FPS, 1, "[0:v]")
    assert sum(a == "-i" for a in inputs) == 2
    count = round(2.2 * FPS)
    ours = _frames(inputs, ";".join(chains) + f";{video}null[out]", tmp_path, count)
    reference = _frames(*_per_card_reference(cards, tmp_path), tmp_path, count)
    plain = np.full(W * H * 3 // 2, 0, np.uint8)
    shown = 0
    for n, (a, b) in enumerate(zip(ours, reference, strict=True)):
        diff = np.abs(np.frombuffer(a, np.uint8).astype(int)
                      - np.frombuffer(b, np.uint8).astype(int))
        assert diff.max() <= 1, (n, np.count_nonzero(diff), diff.max())
        plain[:] = np.frombuffer(a, np.uint8)
        shown += int((np.abs(plain[: W * H].astype(int) - 100) > 8).any())
    # text on every frame but the gap (1.3-1.6 s, 9 frames), the time after the end card
    # (2.0-2.2 s, 6) and the first frames of fades that start alone (0, 0.5 and 1.6 s)
    assert shown == count - 9 - 6 - 3
