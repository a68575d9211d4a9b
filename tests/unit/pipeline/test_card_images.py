"""Text cards drawn once as images (real ffmpeg and libass) and overlaid by the encoder in
lanes: the images, and frames that match libass drawing the same cards into the video."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.render.card_images import DrawnCard, draw_cards
from pipeline.render.card_lanes import lane_overlays, write_lanes
from pipeline.render.cards import write_cards_ass
from pipeline.render.presets import get_preset
from pipeline.render.timeline import Brand, TextLayer

PRESET = get_preset("tiktok")
W, H, FPS = PRESET.width, PRESET.height, PRESET.fps
BRAND = Brand()  # FF5E62 badges, white text
LAYERS = (
    TextLayer("title", "Top 5 desk upgrades", 0.0, 1.0),
    TextLayer("headline", "1. Aurora Desk Lamp", 1.0, 2.5),
    TextLayer("badge", "$34.99", 1.0, 2.5, secondary="$49.99"),
    TextLayer("headline", " ", 2.5, 3.0),  # draws nothing
)
GREY = 100  # the background both renders draw on, in luma


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[DrawnCard]]:
    workdir = tmp_path_factory.mktemp("cards")
    return workdir, draw_cards(LAYERS, PRESET, workdir, BRAND)


def test_one_image_per_group_of_layers_that_show_together(drawn) -> None:
    """Title alone, then headline and badge (same start and end) in one image; text that draws
    nothing gives none. Each is cropped to even bounds inside the frame."""
    _, cards = drawn
    assert [(c.start, c.end) for c in cards] == [(0.0, 1.0), (1.0, 2.5)]
    for card in cards:
        assert card.pixels.dtype == np.uint8 and card.pixels.shape[2] == 4  # RGBA
        height, width = card.pixels.shape[:2]
        assert card.x % 2 == card.y % 2 == width % 2 == height % 2 == 0
        assert 0 <= card.x and card.x + width <= W and 0 <= card.y and card.y + height <= H
        # cropped close: a fraction of the frame, not the whole canvas
        assert width * height < W * H / 8


def test_badge_box_is_opaque_brand_colour_and_shadows_half_transparent(drawn) -> None:
    """Straight alpha, as the overlay expects: the badge's box is opaque FF5E62, the text
    white, and the headline's shadow (ASS back colour &H80) near half transparent."""
    _, cards = drawn
    pixels = cards[1].pixels.reshape(-1, 4).astype(int)
    opaque = pixels[pixels[:, 3] == 255][:, :3]
    brand = np.abs(opaque - [0xFF, 0x5E, 0x62]).max(axis=1) <= 2
    white = (opaque >= 250).all(axis=1)
    assert brand.sum() > 5000 and white.sum() > 5000
    half = pixels[(pixels[:, 3] > 100) & (pixels[:, 3] < 156)]
    assert len(half) > 1000 and (half[:, :3] <= 8).all(axis=1).mean() > 0.9


def _frames(argv: list[str], cwd: Path, count: int) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", *argv, "-frames:v", str(count),
                          "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"],
                         cwd=cwd, check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(count, -1)


def test_overlaid_cards_match_libass_drawing_them_into_the_frames(drawn) -> None:
    """On frames where no card fades, the overlaid images give libass's own luma (within 2
    levels); while a card fades it shows on the frames libass's does; outside its time it is
    gone."""
    workdir, cards = drawn
    write_cards_ass(LAYERS, PRESET, workdir / "direct.ass", BRAND)
    count = round(3.0 * FPS)
    grey = ["-f", "lavfi", "-i", f"color=c=0x{GREY:02x}{GREY:02x}{GREY:02x}:s={W}x{H}:r={FPS},"
            "format=yuv420p"]
    direct = _frames([*grey, "-vf", "ass=direct.ass"], workdir, count)
    inputs, chains, label = lane_overlays(write_lanes(cards, FPS, workdir), FPS, 1, "[0:v]")
    overlaid = _frames([*grey, *inputs, "-filter_complex", ";".join(chains),
                        "-map", label], workdir, count)
    plain = _frames(grey, workdir, 1)[0].astype(int)
    fading = {n for card in cards for n in range(count)
              if card.start <= n / FPS < card.start + 0.2 or card.end - 0.2 <= n / FPS < card.end}
    for n in range(count):
        a, b = direct[n].astype(int), overlaid[n].astype(int)
        changed = np.abs(b - plain) > 8
        if n / FPS >= 2.5:
            assert not changed.any(), n  # after the last card
        elif n in fading:  # there on the same frames as libass's (not on a fade's first)
            assert changed.any() == (np.abs(a - plain) > 8).any(), n
        else:
            assert changed.sum() > 20000, n
            luma, chroma = np.abs(a - b)[: W * H], np.abs(a - b)[W * H:]
            assert luma.max() <= 2, n
            # Chroma is shared by 2x2 pixels, which libass and the overlay average a little
            # differently where a box edge splits them: a few samples on the edges only.
            assert chroma.max() <= 32 and (chroma > 2).sum() < 2000, n
