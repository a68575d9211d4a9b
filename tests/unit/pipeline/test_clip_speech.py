"""A clip's own sound as the voiceover: extracted with the real ffmpeg, shaped around its words."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import pytest

from pipeline.tools import Stopped, StopScope, ToolError, probe
from pipeline.types import SceneTiming, WordTiming
from pipeline.voice.clip_speech import extract_speech_track, heard_speech, voiceover_from_words


def make_clip(out: Path, *, audio_seconds: tuple[float, ...] = (2.0,), video_seconds: float = 2.0,
              channels: int = 2) -> Path:
    """An MP4 of testsrc with one 440/880/… Hz sine AAC stream per entry of `audio_seconds`."""
    argv = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi",
            "-i", f"testsrc=size=64x64:rate=10:duration={video_seconds}"]
    for i, seconds in enumerate(audio_seconds):
        argv += ["-f", "lavfi",
                 "-i", f"sine=frequency={440 * (i + 1)}:sample_rate=44100:duration={seconds}"]
    argv += [arg for i in range(len(audio_seconds) + 1) for arg in ("-map", str(i))]
    argv += ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
    if audio_seconds:
        argv += ["-c:a", "aac", "-ac", str(channels)]
    subprocess.run([*argv, str(out)], check=True, timeout=60)
    return out


def test_the_clip_sound_becomes_a_mono_16_bit_wav(tmp_path: Path) -> None:
    """A stereo 44.1 kHz AAC track comes out mono, 16-bit, 22.05 kHz, as long as it was."""
    clip = make_clip(tmp_path / "clip.mp4", channels=2)
    assert probe(clip).channels == 2
    out = tmp_path / "voice" / "voice.wav"
    seconds = extract_speech_track(clip, out)
    with wave.open(str(out), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22050)
        assert seconds == pytest.approx(wav.getnframes() / 22050)
    assert seconds == pytest.approx(2.0, abs=0.1)
    assert probe(out).duration == pytest.approx(seconds, abs=0.01)
    assert [p.name for p in out.parent.iterdir()] == ["voice.wav"]  # no partial file left


def test_the_sample_rate_is_the_callers(tmp_path: Path) -> None:
    """sample_rate sets the WAV's rate; the duration does not change with it."""
    clip = make_clip(tmp_path / "clip.mp4", audio_seconds=(1.5,), video_seconds=1.5)
    seconds = extract_speech_track(clip, tmp_path / "voice.wav", sample_rate=16000)
    with wave.open(str(tmp_path / "voice.wav"), "rb") as wav:
        assert wav.getframerate() == 16000
    assert seconds == pytest.approx(1.5, abs=0.1)


def test_only_the_first_audio_stream_is_taken(tmp_path: Path) -> None:
    """With two audio streams (1 s and 3 s), the WAV is the first one."""
    clip = make_clip(tmp_path / "clip.mp4", audio_seconds=(1.0, 3.0), video_seconds=3.0)
    seconds = extract_speech_track(clip, tmp_path / "voice.wav")
    assert seconds == pytest.approx(1.0, abs=0.1)


def test_a_clip_without_sound_has_no_speech_track(tmp_path: Path) -> None:
    """No audio stream: None, and no WAV is written."""
    clip = make_clip(tmp_path / "silent.mp4", audio_seconds=())
    assert probe(clip).audio_codec is None
    out = tmp_path / "voice.wav"
    assert extract_speech_track(clip, out) is None
    assert not out.exists()


def test_an_unreadable_clip_fails_with_the_tools_error(tmp_path: Path) -> None:
    """A file that is no media fails as a ToolError that carries ffprobe's stderr."""
    bogus = tmp_path / "clip.mp4"
    bogus.write_bytes(b"not a video at all")
    with pytest.raises(ToolError) as caught:
        extract_speech_track(bogus, tmp_path / "voice.wav")
    assert "Invalid data" in caught.value.stderr_tail


def test_a_stopped_stage_runs_no_ffmpeg(tmp_path: Path) -> None:
    """Extraction goes through the supervised tool runner: a stopped scope stops it."""
    clip = make_clip(tmp_path / "clip.mp4")
    scope = StopScope()
    scope.stop("superseded")
    with scope.active(), pytest.raises(Stopped):
        extract_speech_track(clip, tmp_path / "voice.wav")
    assert not (tmp_path / "voice.wav").exists()


def test_voiceover_from_words_is_one_scene_of_the_clip() -> None:
    """The heard words as they are, one scene over the whole audio, engine "clip"."""
    words = [WordTiming("Hello,", 0.2, 0.6), WordTiming("world.", 0.7, 1.1)]
    voiceover = voiceover_from_words(words, 2.5, 22050)
    assert voiceover.words == tuple(words)
    assert voiceover.scenes == (SceneTiming(0, 0.0, 2.5),)
    assert (voiceover.duration, voiceover.sample_rate, voiceover.engine) == (2.5, 22050, "clip")
    assert voiceover.to_dict()["words"][0] == {"text": "Hello,", "start": 0.2, "end": 0.6}


def test_voiceover_words_stay_inside_the_audio() -> None:
    """A word Whisper ends past the audio's end is cut at the end; none starts before 0."""
    voiceover = voiceover_from_words([WordTiming("so", -0.01, 0.3), WordTiming("long", 1.9, 2.04)],
                                     2.0, 16000)
    assert voiceover.words == (WordTiming("so", 0.0, 0.3), WordTiming("long", 1.9, 2.0))


@pytest.mark.parametrize(("texts", "heard"), [
    ([], False),
    (["Hello"], False),
    (["Hello", "..."], False),
    (["—", "42", "!"], False),
    (["Hello", "there"], True),
    (["去去去", "去"], True),  # letters of any script count
])
def test_heard_speech_needs_two_words_with_letters(texts: list[str], heard: bool) -> None:
    """Speech is two or more words with letters; digits and punctuation alone are not."""
    words = [WordTiming(text, i * 0.5, i * 0.5 + 0.4) for i, text in enumerate(texts)]
    assert heard_speech(words) is heard
