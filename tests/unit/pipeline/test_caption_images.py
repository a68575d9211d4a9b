"""Karaoke captions drawn once per state (real ffmpeg and libass) and overlaid from a listing:
the states and their frames, the images, and video frames that match libass drawing the same
captions straight into every frame."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.captions.build import write_ass
from pipeline.render.caption_images import (
    CaptionBand,
    _Event,
    _states,
    caption_overlay,
    draw_caption_band,
)
from pipeline.render.presets import get_preset
from pipeline.types import CaptionGroup, WordTiming

PRESET = get_preset("tiktok")
W, H, FPS = PRESET.width, PRESET.height, PRESET.fps
# Word times off the 0.1 s marks, where libass's millisecond clock rounds frame times down.
GROUPS = (
    CaptionGroup((WordTiming("Fresh", 0.13, 0.47), WordTiming("coffee", 0.47, 0.88),
                  WordTiming("daily", 0.88, 1.31)), 0.13, 1.31),
    CaptionGroup((WordTiming("Order", 1.62, 1.97), WordTiming("now!", 1.97, 2.44)), 1.62, 2.44),
)
FRAMES = 90  # 3 s: a caption, a gap, a caption, nothing to the end
GREY = 90


def _event(start_ms: int, end_ms: int) -> _Event:
    return _Event(start_ms, end_ms, "Dialogue: 0", "Caption,,0,0,0,,x")


def test_states_are_the_stretches_where_the_same_events_show() -> None:
    """Overlapping events make three states; each covers the frames whose time t has
    start <= t < end, and a stretch no frame falls in is no state."""
    events = [_event(0, 1000), _event(500, 1500), _event(2001, 2020)]
    states = [(s.first_frame, s.end_frame, s.events) for s in _states(events, 30)]
    assert states == [(0, 15, (0,)), (15, 30, (0, 1)), (30, 45, (1,))]
    # 2.001 s to 2.020 s holds no frame time (frame 61 is at 2.0333 s)
    assert _states([_event(2001, 2020)], 30) == []


@pytest.fixture(scope="module")
def band(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CaptionBand]:
    workdir = tmp_path_factory.mktemp("captions")
    write_ass(GROUPS, PRESET, workdir / "captions.ass")
    drawn = draw_caption_band(workdir / "captions.ass", PRESET, workdir)
    assert drawn is not None
    return workdir, drawn


def test_every_state_is_an_image_of_the_band_from_its_first_frame(band) -> None:
    """One image per word state, all the band's size (even, inside the frame, a strip rather
    than the frame), each listed from the first frame at or after its word's start, blanks
    in the gap and after the end."""
    workdir, drawn = band
    images = sorted(workdir.glob("caption_0*.png"))
    assert len(images) == 5
    sizes = set()
    for image in images:
        with Image.open(image) as im:
            assert im.mode == "RGBA"
            sizes.add(im.size)
    [(width, height)] = sizes
    assert drawn.x % 2 == drawn.y % 2 == width % 2 == height % 2 == 0
    assert drawn.x + width <= W and drawn.y + height <= H and height < H / 8
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-safe", "0", "-f", "concat", "-i", drawn.listing,
         "-show_entries", "packet=pts:stream=time_base", "-of", "csv=p=0"],
        cwd=workdir, capture_output=True, text=True, timeout=60, check=True).stdout.split()
    assert probe[-1] == "1/30"
    starts = [int(pts) for pts in probe[:-1]]
    word_starts = [0.13, 0.47, 0.88, 1.31, 1.62, 1.97, 2.44]  # 1.31 and 2.44: blanks
    assert starts == [0] + [math.ceil(t * FPS) for t in word_starts]


def _frames(workdir: Path, graph: list[str]) -> np.ndarray:
    """FRAMES grey video frames through `graph` (extra inputs, then -filter_complex ...), as
    luma planes."""
    size = W * H * 3 // 2
    grey = np.full(size, 128, np.uint8)
    grey[: W * H] = GREY
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p",
         "-s", f"{W}x{H}", "-framerate", str(FPS), "-i", "pipe:0", *graph,
         "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"],
        input=grey.tobytes() * FRAMES, cwd=workdir, capture_output=True, timeout=120,
        check=True)
    return np.frombuffer(done.stdout, np.uint8).reshape(FRAMES, size)[:, : W * H].reshape(
        FRAMES, H, W)


def test_overlaid_frames_match_libass_drawing_every_frame(band) -> None:
    """Frame by frame, the overlaid images show what libass draws into the frame: the same
    word highlighted on the same frames, the same glyphs, within a level or two of luma."""
    workdir, drawn = band
    inputs, chains, label = caption_overlay(drawn, 1, "[0:v]")
    ours = _frames(workdir, [*inputs, "-filter_complex", ";".join(chains),
                             "-map", label])
    libass = _frames(workdir, ["-vf", "ass=captions.ass"])
    shown = (np.abs(libass.astype(int) - GREY) > 30).reshape(FRAMES, -1).sum(axis=1)
    # the captions show from frame 4 (0.13 s) to 39 (1.31 s) and 49 to 73, nothing else
    assert (shown[4:40] > 2000).all() and (shown[49:74] > 2000).all()
    assert shown[:4].sum() == shown[40:49].sum() == shown[74:].sum() == 0
    difference = np.abs(ours.astype(int) - libass.astype(int)).reshape(FRAMES, -1)
    assert (difference > 24).sum(axis=1).max() < 100
    assert difference.mean(axis=1).max() < 0.05


def test_highlight_moves_on_the_word_frames(band) -> None:
    """The highlight moves to the next word on the first frame at or after its start, not a
    frame early or late: nothing changes between the two frames before, and thousands of
    pixels (two words' fill, white to yellow and back) change on it."""
    workdir, drawn = band
    inputs, chains, label = caption_overlay(drawn, 1, "[0:v]")
    ours = _frames(workdir, [*inputs, "-filter_complex", ";".join(chains), "-map", label])
    for word_start in (0.47, 0.88, 1.97):
        change = math.ceil(word_start * FPS)
        before = np.abs(ours[change - 2].astype(int) - ours[change - 1].astype(int))
        on = np.abs(ours[change - 1].astype(int) - ours[change].astype(int))
        assert before.max() == 0 and (on > 15).sum() > 2000


@pytest.mark.parametrize("tag", [r"{\fad(100,100)}", r"{\move(100,100,200,200)}",
                                 r"{\t(\fs120)}", r"{\k50}"])
def test_text_that_changes_within_an_event_is_left_to_libass(tag: str, tmp_path: Path) -> None:
    """Fades, moves, transforms and karaoke sweeps change between an event's frames: no
    images are drawn and the caller keeps libass."""
    ass = write_ass(GROUPS, PRESET, tmp_path / "captions.ass")
    ass.write_text(ass.read_text().replace("{\\pos", tag + "{\\pos", 1))
    assert draw_caption_band(ass, PRESET, tmp_path) is None
    assert not list(tmp_path.glob("caption_*.png"))
