"""The W1 benchmark inputs: sizes, durations and content, made small (6 s) so they are quick."""

from __future__ import annotations

import dataclasses
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.w1_inputs import (
    WORDS_PER_SECOND,
    floor_seconds,
    make_music,
    make_stills,
    make_voiceover,
    narration,
    scene_count,
)
from pipeline.render.presets import get_preset
from pipeline.tools import probe

SECONDS = 6.0


def _wav(path: Path) -> tuple[np.ndarray, int]:
    """Samples as floats (frames × channels) and the sample rate."""
    with wave.open(str(path), "rb") as reader:
        assert reader.getsampwidth() == 2
        data = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
        return data.reshape(-1, reader.getnchannels()) / 32768.0, reader.getframerate()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the voiceover and music of a 6 s W1."""
    return tmp_path_factory.mktemp("w1")


def test_stills_are_distinct_photo_like_2000px_jpegs(tmp_path: Path) -> None:
    """make_stills writes different 2000×2000 RGB JPEGs that compress like photos, not flat art."""
    stills = make_stills(tmp_path, 2)
    assert [p.name for p in stills] == ["still_00.jpg", "still_01.jpg"]
    pixels = []
    for path in stills:
        with Image.open(path) as still:
            assert (still.format, still.mode, still.size) == ("JPEG", "RGB", (2000, 2000))
            pixels.append(np.asarray(still, dtype=np.float64))
        # Flat generated art compresses to ~0.2 bits a pixel; photos take 1.5 or more.
        assert path.stat().st_size * 8 / 2000**2 > 1.0
    assert np.abs(pixels[0] - pixels[1]).mean() > 20


@pytest.mark.parametrize("seconds", [15, 30, 60])
def test_narration_scales_words_and_scenes_with_duration(seconds: int) -> None:
    """The script has 2.5 words a second and one scene per 6 s still (30 s: 75 words, 5)."""
    script = narration(seconds)
    assert len(script.narration.split()) == round(WORDS_PER_SECOND * seconds)
    assert len(script.scenes) == scene_count(seconds) == -(-seconds // 6)
    assert narration(seconds) == script  # fixed seed


def test_voiceover_lasts_exactly_the_duration_with_increasing_words(inputs: Path) -> None:
    """The espeak-ng voiceover is exactly 6 s long and its ~15 word starts rise inside it."""
    wav, words = make_voiceover(inputs, SECONDS)
    samples, rate = _wav(wav)
    assert len(samples) == round(SECONDS * rate)
    assert abs(len(words) - WORDS_PER_SECOND * SECONDS) <= 1
    starts = [w.start for w in words]
    assert all(a < b for a, b in zip(starts, starts[1:], strict=False))
    assert 0 <= starts[0] < 1.0 and starts[-1] < SECONDS
    assert all(w.start <= w.end <= SECONDS for w in words)
    assert words[-1].end > SECONDS - 2  # the speech fills the duration, not just its start
    spoken = samples[round(words[1].start * rate):round(words[-1].end * rate)]
    assert np.sqrt(np.mean(spoken**2)) > 0.01
    assert not (inputs / "voice_raw.wav").exists()


def test_music_is_48k_stereo_with_energy_across_the_spectrum(inputs: Path) -> None:
    """The music bed is 6 s of 48 kHz stereo with energy in the low, mid and high bands."""
    path = make_music(inputs, SECONDS)
    samples, rate = _wav(path)
    assert rate == 48000
    assert samples.shape == (round(SECONDS * rate), 2)
    assert not np.array_equal(samples[:, 0], samples[:, 1])
    power = np.abs(np.fft.rfft(samples.mean(axis=1))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    total = power.sum()
    for low, high in ((20, 250), (250, 4000), (4000, 16000)):
        share = power[(freqs >= low) & (freqs < high)].sum() / total
        assert share > 0.01, f"{low}-{high} Hz holds only {share:.2%} of the energy"
    assert make_music(inputs / "again", SECONDS).read_bytes() == path.read_bytes()


def test_floor_encodes_the_reference_with_the_preset_settings(tmp_path: Path) -> None:
    """floor_seconds times an encode that has the preset's codec, profile, colours and audio."""
    preset = dataclasses.replace(get_preset("tiktok"), width=160, height=288)
    reference = tmp_path / "reference.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
         f"testsrc2=size={preset.width}x{preset.height}:rate={preset.fps}:duration=1",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(reference)],
        check=True, timeout=60)
    seconds = floor_seconds(reference, preset, tmp_path / "floor")
    assert 0 < seconds < 30
    assert probe(tmp_path / "floor" / "floor_source.mkv").video_codec == "ffv1"
    info = probe(tmp_path / "floor" / "floor.mp4")
    assert (info.video_codec, info.video_profile, info.pix_fmt) == ("h264", "High", "yuv420p")
    assert (info.color_space, info.color_primaries, info.color_transfer) == ("bt709",) * 3
    assert (info.width, info.height, info.frame_rate) == (160, 288, "30/1")
    assert (info.audio_codec, info.sample_rate, info.channels) == ("aac", 48000, 2)
