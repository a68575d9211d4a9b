"""Captions in Latin, CJK, Arabic, Cyrillic and Devanagari render real glyphs in the safe zone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.captions.build import write_ass
from pipeline.render.presets import get_preset
from pipeline.types import CaptionGroup, WordTiming

PRESET = get_preset("tiktok")
# U+0378 is unassigned: no font has it, so libass draws the missing-glyph box (tofu).
TOFU = "\u0378"


def _render(text: str, tmp_path: Path, name: str) -> np.ndarray:
    """One 1080x1920 frame of a caption group showing `text` (white on black), as a mask."""
    words = tuple(WordTiming(word, 0.0, 1.0) for word in text.split())
    ass = write_ass([CaptionGroup(words, 0.0, 1.0)], PRESET, tmp_path / f"{name}.ass")
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
         f"color=black:s={PRESET.width}x{PRESET.height}:d=1", "-vf", f"ass={ass.name}",
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        cwd=tmp_path, capture_output=True, timeout=60, check=True,
    )
    frame = np.frombuffer(done.stdout, np.uint8).reshape(PRESET.height, PRESET.width)
    return frame > 128  # the fill is white or the highlight colour; the outline is black


def _crop(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    return mask[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]


def _same_shape(a: np.ndarray, b: np.ndarray) -> float:
    """Overlap (IoU) of two glyph masks once cropped and padded to one size."""
    a, b = _crop(a), _crop(b)
    h, w = max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1])
    pa = np.zeros((h, w), bool)
    pb = np.zeros((h, w), bool)
    pa[: a.shape[0], : a.shape[1]] = a
    pb[: b.shape[0], : b.shape[1]] = b
    return float((pa & pb).sum() / max(1, (pa | pb).sum()))


@pytest.fixture(scope="module")
def tofu(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """The missing-glyph box as the caption style draws it."""
    return _render(TOFU, tmp_path_factory.mktemp("tofu"), "tofu")


@pytest.mark.parametrize(
    ("script", "text"),
    [
        ("latin", "Café déjà"),
        ("cjk", "咖啡 很香"),
        ("japanese", "コーヒー です"),
        ("arabic", "القهوة الباردة"),
        ("cyrillic", "Холодный кофе"),
        ("devanagari", "ठंडी कॉफी"),
    ],
)
def test_every_character_is_a_real_glyph(script: str, text: str, tofu: np.ndarray,
                                         tmp_path: Path) -> None:
    """Each character renders differently from the missing-glyph box (no tofu)."""
    assert tofu.sum() > 100  # the reference box itself is visible
    for i, char in enumerate(c for c in text if not c.isspace()):
        glyph = _render(char, tmp_path, f"{script}{i}")
        assert glyph.sum() > 20, f"{char!r} drew nothing"
        assert _same_shape(glyph, tofu) < 0.6, f"{char!r} ({script}) rendered as tofu"


@pytest.mark.parametrize("text", ["Why cold brew tastes", "冷萃咖啡为什么更顺滑",
                                  "لماذا القهوة الباردة أنعم"])
def test_caption_lies_inside_the_safe_zone(text: str, tmp_path: Path) -> None:
    """All caption pixels stay out of the areas the platform's UI covers."""
    mask = _render(text, tmp_path, "zone")
    rows, cols = np.nonzero(mask)
    zone = PRESET.safe_zone
    assert rows.min() >= PRESET.height * zone.top
    assert rows.max() <= PRESET.height * (1 - zone.bottom)
    assert cols.min() >= PRESET.width * zone.left
    assert cols.max() <= PRESET.width * (1 - zone.right)
