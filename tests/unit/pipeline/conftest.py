"""Fixtures for the pipeline unit tests: a small preset, tiny scripts, audio and video helpers."""

from __future__ import annotations

import dataclasses
import subprocess
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pipeline.render.presets import Preset, get_preset
from pipeline.types import Scene, Script
from pipeline.voice.espeak import EspeakVoice

# Emoji and the invisible characters that build emoji sequences; none may reach speech or screen.
EMOJI_IDEAS = {
    "rocket": "Launch day 🚀🔥 for our app",
    "skin_tone": "Great job 👍🏽 team",
    "flag": "Trip to Paris 🇫🇷 on a budget",
    "keycap": "Top 3️⃣ tips for sleep",
    "zwj": "Coding tips 👩‍💻 for beginners",
    "coffee": "Morning ☕ routine ⭐",
}
EMOJI_AND_JOINERS = set("🚀🔥👍🏽🇫🇷⃣👩💻☕⭐\u200d\ufe0f")

# Ideas a user may type; every one must give a script and a voice without error.
ROBUST_IDEAS = {
    "quotes": 'Why "cheap" coffee isn\'t always cheap — a “fair” look',
    "accents": "Crème brûlée à la maison, façon grand-mère",
    "arabic": "كيف تصنع القهوة العربية في المنزل؟",
    "cjk": "如何在家做咖啡",
    "japanese": "東京で安く食べる方法",
    "ass_markup": r"Braces {\b1}bold{\b0} and back\slashes \N here",
    **EMOJI_IDEAS,
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests asking for `robust_idea` or `emoji_idea` run once per sample idea."""
    if "robust_idea" in metafunc.fixturenames:
        metafunc.parametrize("robust_idea", list(ROBUST_IDEAS.values()), ids=list(ROBUST_IDEAS))
    if "emoji_idea" in metafunc.fixturenames:
        metafunc.parametrize("emoji_idea", list(EMOJI_IDEAS.values()), ids=list(EMOJI_IDEAS))


@pytest.fixture(scope="session")
def emoji_chars() -> frozenset[str]:
    """Every emoji code point (and joiner/selector) used in the sample ideas."""
    return frozenset(EMOJI_AND_JOINERS)


@pytest.fixture(scope="session")
def small_preset() -> Preset:
    """The tiktok preset shrunk to 270×480 with a 3 s minimum, so renders take a second."""
    return dataclasses.replace(get_preset("tiktok"), width=270, height=480, min_duration=3.0)


@pytest.fixture(scope="session")
def espeak() -> EspeakVoice:
    """The default espeak-ng voice (en-us, 165 wpm)."""
    voice = EspeakVoice()
    assert voice.available(), "espeak-ng must be installed for the pipeline tests"
    return voice


@pytest.fixture
def tiny_script() -> Script:
    """A two-scene script whose voiceover lasts a few seconds."""
    return Script(
        title="Tiny {\\b1} test: كيف",
        scenes=(
            Scene(narration="Bright colours first.", headline="One"),
            Scene(narration="Then calm blue tones.", headline="Two"),
        ),
        call_to_action="Follow for more.",
        hashtags=("#tiny", "#shorts"),
    )


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono 16-bit WAV → float samples in [-1, 1] and the sample rate."""
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 1
        assert wav.getsampwidth() == 2
        rate = wav.getframerate()
        data = wav.readframes(wav.getnframes())
    return np.frombuffer(data, dtype=np.int16).astype(np.float64) / 32768.0, rate


def window_db(samples: np.ndarray, rate: int, window_s: float = 0.01) -> np.ndarray:
    """RMS level in dBFS of consecutive windows (10 ms by default)."""
    size = max(1, int(rate * window_s))
    count = len(samples) // size
    frames = samples[: count * size].reshape(count, size)
    rms = np.sqrt((frames**2).mean(axis=1))
    return 20 * np.log10(rms + 1e-10)


def level_db(samples: np.ndarray) -> float:
    """RMS level in dBFS of a whole stretch of samples (-200 for digital silence)."""
    if len(samples) == 0:
        return -200.0
    return float(20 * np.log10(np.sqrt(np.mean(samples**2)) + 1e-10))


@pytest.fixture(scope="session")
def wav_reader() -> Callable[[Path], tuple[np.ndarray, int]]:
    """`read_wav` as a fixture."""
    return read_wav


@pytest.fixture(scope="session")
def levels() -> tuple[Callable[..., np.ndarray], Callable[[np.ndarray], float]]:
    """(`window_db`, `level_db`) as a fixture."""
    return window_db, level_db


def decode_frame(video: Path, seconds: float, width: int, height: int) -> np.ndarray:
    """The video frame shown at `seconds`, as an RGB uint8 array of height × width × 3."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-ss", f"{seconds:.3f}", "-i", str(video),
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True, timeout=30,
    ).stdout
    assert len(raw) == width * height * 3
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)


def decode_audio(media: Path, rate: int = 48000) -> np.ndarray:
    """The media file's audio as mono float samples at `rate`."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(media), "-ac", "1", "-ar", str(rate),
         "-f", "s16le", "-"],
        capture_output=True, check=True, timeout=30,
    ).stdout
    return np.frombuffer(raw, dtype=np.int16).astype(np.float64) / 32768.0


@pytest.fixture(scope="session")
def media() -> dict[str, Callable[..., np.ndarray]]:
    """Decoders for rendered files: `frame(video, t, w, h)` and `audio(media, rate)`."""
    return {"frame": decode_frame, "audio": decode_audio}
