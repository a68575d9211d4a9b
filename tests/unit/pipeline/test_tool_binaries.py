"""FFMPEG_BINARY and FFPROBE_BINARY reach every tool call: clip probes, the audio mix and its
clip sound, the encoder, and Whisper's audio decode."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.captions.transcribe import _decode_audio
from pipeline.render.compositor import RenderOptions, render_timeline
from pipeline.render.timeline import MediaItem, build_timeline
from pipeline.types import Scene, SceneTiming, Script, Voiceover
from store.settings import Settings
from worker.stages import render_options


def _wrapper(folder: Path, tool: str) -> tuple[Path, Path]:
    """A stand-in for `tool` that notes each call in a log, then runs the real one."""
    log = folder / f"{tool}.calls"
    script = folder / f"my-{tool}"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec {tool} "$@"\n')
    script.chmod(0o755)
    return script, log


def _calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A two-second 64×64 clip with a tone, which the render probes and mixes."""
    out = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=64x64:rate=30:d=2", "-f", "lavfi", "-i",
                    "sine=f=440:d=2", "-shortest", "-pix_fmt", "yuv420p", str(out)],
                   check=True, timeout=60)
    return out


def test_a_clip_render_uses_the_configured_ffmpeg_and_ffprobe(tmp_path: Path, clip: Path,
                                                             small_preset) -> None:
    """Probing the clip and its sound, mixing and encoding all go through the wrappers."""
    ffmpeg, ffmpeg_log = _wrapper(tmp_path, "ffmpeg")
    ffprobe, ffprobe_log = _wrapper(tmp_path, "ffprobe")
    voice = tmp_path / "voice.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "sine=f=220:r=22050:d=1.5", str(voice)], check=True, timeout=30)
    script = Script("Title", (Scene("One scene.", "Head"),), "Follow.", ())
    timeline = build_timeline(script, Voiceover(1.5, 22050, (), (SceneTiming(0, 0, 1.5),),
                                                "test"),
                              voice, small_preset, media=[MediaItem(clip, "clip", True)])
    render_timeline(timeline, tmp_path / "work", tmp_path / "out.mp4",
                    options=RenderOptions(quality="draft", ffmpeg=str(ffmpeg),
                                          ffprobe=str(ffprobe)))
    assert (tmp_path / "out.mp4").stat().st_size > 0
    assert any(str(clip) in call for call in _calls(ffprobe_log)), _calls(ffprobe_log)
    assert any("rawvideo" in call for call in _calls(ffmpeg_log))  # the encoder
    assert any(str(clip) in call for call in _calls(ffmpeg_log))  # the clip's piece and sound


def test_whispers_audio_decode_uses_the_configured_ffmpeg(tmp_path: Path) -> None:
    """The samples Whisper hears are decoded by the configured ffmpeg."""
    ffmpeg, log = _wrapper(tmp_path, "ffmpeg")
    wav = tmp_path / "speech.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "sine=f=300:r=16000:d=1", str(wav)], check=True, timeout=30)
    samples = _decode_audio(wav, str(ffmpeg))
    assert isinstance(samples, np.ndarray) and abs(len(samples) - 16000) < 400
    assert any(str(wav) in call for call in _calls(log))


def test_the_worker_passes_both_binaries_to_the_render(tmp_path: Path) -> None:
    """A worker's render options carry FFMPEG_BINARY and FFPROBE_BINARY from its settings."""
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), "FFMPEG_BINARY": "/opt/ff/ffmpeg",
                                  "FFPROBE_BINARY": "/opt/ff/ffprobe"})
    options = render_options(settings, "standard")
    assert (options.ffmpeg, options.ffprobe) == ("/opt/ff/ffmpeg", "/opt/ff/ffprobe")
    assert os.sep in options.ffprobe
