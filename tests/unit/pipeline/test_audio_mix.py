"""The soundtrack: music choice, loudness metering, ducking, fades, normalisation, clip sound.

How the ducking is measured: the test "music" is a 14 kHz tone, and the voice is espeak-ng at
22.05 kHz, which carries nothing above 11 kHz. A 12 kHz high-pass on the *finished* mix
therefore hears the music alone, exactly as the listener gets it — after ducking, fading,
normalisation and limiting — with no debug switch in the code under test and no subtraction
of a re-rendered voice. Speech and pause windows come from the voice WAV itself.
"""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from pipeline.render.audio_mix import (
    MAX_TRUE_PEAK_DBTP,
    SILENCE_LUFS,
    LoudnessReport,
    join_continuing,
    measure_loudness,
    mix_audio,
    pick_music,
)
from pipeline.tools import ToolError

RATE = 48000
WINDOW = 0.05  # seconds per level window
PAUSE = 2.0  # seconds of silence around and between the two sentences
SENTENCES = ("Bright colours first, then calm blue tones.",
             "The music must step back while I speak.")


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=60)


def _decode(path: Path, af: str | None = None) -> np.ndarray:
    """The file's audio as mono float samples at 48 kHz, after the optional filter."""
    filters = ["-af", af] if af else []
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), *filters,
                          "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"],
                         capture_output=True, check=True, timeout=60).stdout
    return np.frombuffer(raw, dtype=np.float32).astype(np.float64)


def _window_power(samples: np.ndarray, count: int) -> np.ndarray:
    """Mean power of consecutive WINDOW-long stretches (zero-padded to `count` windows)."""
    size = int(RATE * WINDOW)
    padded = np.zeros(count * size)
    padded[: min(len(samples), count * size)] = samples[: count * size]
    return (padded.reshape(count, size) ** 2).mean(axis=1)


def _db(power: float) -> float:
    return float(10 * np.log10(power + 1e-20))


def _music_band(path: Path) -> np.ndarray:
    """Only what lies above 12 kHz: the test music, none of the voice."""
    return _decode(path, "highpass=f=12000,highpass=f=12000,highpass=f=12000")


@pytest.fixture(scope="module")
def voice_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """espeak-ng speech: 2 s silence, a sentence, 2 s silence, a sentence, 2 s silence."""
    folder = tmp_path_factory.mktemp("voice")
    parts = []
    for k, sentence in enumerate(SENTENCES):
        spoken = folder / f"s{k}.wav"
        subprocess.run(["espeak-ng", "-w", str(spoken), sentence], check=True, timeout=30)
        parts.append(spoken)
    silence = folder / "silence.wav"
    _ffmpeg("-f", "lavfi", "-i", f"anullsrc=r=22050:cl=mono:d={PAUSE}", str(silence))
    order = [silence, parts[0], silence, parts[1], silence]
    inputs = [arg for part in order for arg in ("-i", str(part))]
    out = folder / "voice.wav"
    _ffmpeg(*inputs, "-filter_complex", f"concat=n={len(order)}:v=0:a=1", str(out))
    return out


@pytest.fixture(scope="module")
def tone_music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s stereo 14 kHz tone (shorter than the video, so it must loop)."""
    out = tmp_path_factory.mktemp("music") / "tone.wav"
    _ffmpeg("-f", "lavfi", "-i", f"sine=f=14000:r={RATE}:d=3", "-ac", "2", str(out))
    return out


@pytest.fixture(scope="module")
def pink_music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of loud stereo pink noise with a bass note, like a mastered track."""
    out = tmp_path_factory.mktemp("music") / "pink.m4a"
    _ffmpeg("-f", "lavfi", "-i", f"anoisesrc=color=pink:r={RATE}:d=4:a=0.5:seed=3",
            "-f", "lavfi", "-i", f"sine=f=110:r={RATE}:d=4",
            "-filter_complex", "amix=inputs=2:normalize=0", "-ac", "2", "-c:a", "aac", str(out))
    return out


def _voice_length(voice_wav: Path) -> float:
    with wave.open(str(voice_wav), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


@pytest.fixture(scope="module")
def ducked(voice_wav: Path, tone_music: Path,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LoudnessReport, float]:
    """The voice mixed over the looping tone with default settings: (WAV, report, duration)."""
    duration = round(_voice_length(voice_wav) + 0.5, 2)
    out = tmp_path_factory.mktemp("mix") / "mix.wav"
    report = mix_audio(voice_wav, out, duration=duration, music=tone_music, timeout=60)
    return out, report, duration


# --- pick_music --------------------------------------------------------------------------------


def test_pick_music_is_deterministic_and_only_picks_audio() -> None:
    """The same seed picks the same track, only audio names are candidates, seeds spread."""
    keys = [f"profiles/p/music/{n}" for n in ("b.mp3", "a.FLAC", "c.opus", "notes.txt",
                                               "cover.jpg")]
    picks = {seed: pick_music(keys, seed) for seed in (f"job-{n}" for n in range(40))}
    assert set(picks.values()) == {"profiles/p/music/a.FLAC", "profiles/p/music/b.mp3",
                                   "profiles/p/music/c.opus"}
    assert all(pick_music(list(reversed(keys)), seed) == pick for seed, pick in picks.items())


@pytest.mark.parametrize("tracks", [[], ["readme.md", "cover.png"]])
def test_pick_music_without_tracks_is_none(tracks: list[str]) -> None:
    """No tracks, or none with an audio ending, gives no music."""
    assert pick_music(tracks, "seed") is None


# --- measure_loudness --------------------------------------------------------------------------


@pytest.mark.parametrize(("channels", "lufs"), [(2, -20.0), (1, -23.0)])
def test_measure_loudness_of_a_known_sine(tmp_path: Path, channels: int, lufs: float) -> None:
    """A 1 kHz sine peaking at -20 dBFS reads -20 LUFS in stereo, -23 in mono, -20 dBTP peak."""
    path = tmp_path / "sine.wav"
    # sine's default amplitude is 1/8; times 0.8 gives 0.1, i.e. -20 dBFS in every channel
    layout = "pan=stereo|c0=c0|c1=c0" if channels == 2 else "anull"
    _ffmpeg("-f", "lavfi", "-i", f"sine=f=1000:r={RATE}:d=5", "-af", f"volume=0.8,{layout}",
            str(path))
    report = measure_loudness(path)
    assert report.integrated_lufs == pytest.approx(lufs, abs=0.5)
    assert report.true_peak_dbtp == pytest.approx(-20.0, abs=0.5)
    assert report.lra == pytest.approx(0.0, abs=0.5)


def test_measure_loudness_of_silence(tmp_path: Path) -> None:
    """Digital silence reads as ebur128's absolute gate with no peak."""
    path = tmp_path / "silence.wav"
    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo:d=2", str(path))
    report = measure_loudness(path)
    assert report.integrated_lufs == SILENCE_LUFS
    assert report.true_peak_dbtp == -np.inf


# --- mix_audio ---------------------------------------------------------------------------------


def _assert_normalised(path: Path, report: LoudnessReport, duration: float) -> None:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, RATE, 2)
        assert wav.getnframes() == round(duration * RATE)
    assert report.integrated_lufs == pytest.approx(-14.0, abs=0.5)
    assert report.true_peak_dbtp <= MAX_TRUE_PEAK_DBTP
    again = measure_loudness(path)
    assert again.integrated_lufs == pytest.approx(report.integrated_lufs, abs=0.05)


def test_mix_is_normalised(ducked: tuple[Path, LoudnessReport, float]) -> None:
    """The mix is 48 kHz 16-bit stereo of the asked length at -14 ± 0.5 LUFS, TP <= -1 dBTP."""
    _assert_normalised(*ducked)


def test_music_ducks_under_the_voice(voice_wav: Path,
                                     ducked: tuple[Path, LoudnessReport, float]) -> None:
    """The music is at least 10 dB (by default 14) quieter while the voice speaks than in pauses."""
    out, _, duration = ducked
    count = int(duration / WINDOW)
    music = _window_power(_music_band(out), count)
    voice = _window_power(_decode(voice_wav), count)
    speaking = 10 * np.log10(voice + 1e-20) > -45
    times = np.arange(count) * WINDOW
    # A pause window is far (1 s) from any speech and clear of the fades.
    speech_times = times[speaking]
    far = np.array([np.min(np.abs(speech_times - t)) > 1.0 for t in times])
    pause = far & (times > 1.0) & (times < duration - 1.5 - WINDOW)
    assert speaking.sum() > 40 and pause.sum() > 10
    ducking = _db(music[pause].mean()) - _db(music[speaking].mean())
    assert ducking >= 10.0, f"music only {ducking:.1f} dB quieter under the voice"
    assert ducking == pytest.approx(14.0, abs=1.5)  # the default duck_db, as measured


def test_music_fades_in_and_out(voice_wav: Path,
                                ducked: tuple[Path, LoudnessReport, float]) -> None:
    """The first and last 0.2 s are far (>= 12 dB) quieter than the middle of a pause."""
    out, _, duration = ducked
    samples = _decode(out)
    start = samples[: int(0.2 * RATE)]
    end = samples[-int(0.2 * RATE):]
    middle_of_first_pause = samples[int(1.3 * RATE): int(1.8 * RATE)]
    pause_db = _db(float((middle_of_first_pause**2).mean()))
    assert pause_db - _db(float((start**2).mean())) >= 12.0
    assert pause_db - _db(float((end**2).mean())) >= 12.0


def test_mix_with_real_sounding_music(voice_wav: Path, pink_music: Path, tmp_path: Path) -> None:
    """Over broadband AAC music the mix still lands on -14 LUFS with its true peak in bounds."""
    out = tmp_path / "nested" / "mix.wav"
    report = mix_audio(voice_wav, out, duration=12.0, music=pink_music, timeout=60)
    _assert_normalised(out, report, 12.0)
    assert sorted(p.name for p in out.parent.iterdir()) == ["mix.wav"]  # no temp files left


def test_voice_only_mix(voice_wav: Path, tmp_path: Path) -> None:
    """Without music the voice alone is padded to the duration and normalised."""
    out = tmp_path / "voice_only.wav"
    report = mix_audio(voice_wav, out, duration=13.0, music=None, timeout=60)
    _assert_normalised(out, report, 13.0)
    tail = _decode(out)[int(12.0 * RATE):]
    assert np.abs(tail).max() == 0.0  # padding is silence


def test_silent_voice_leaves_the_music_unducked(tone_music: Path, tmp_path: Path) -> None:
    """A voice that never speaks ducks nothing: the music holds one level, normalised."""
    silent = tmp_path / "silent.wav"
    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono:d=6", str(silent))
    out = tmp_path / "mix.wav"
    report = mix_audio(silent, out, duration=6.0, music=tone_music, timeout=60)
    _assert_normalised(out, report, 6.0)
    levels = 10 * np.log10(_window_power(_music_band(out), 120)[30:80])  # 1.5-4 s
    assert levels.max() - levels.min() < 0.5


def test_all_silent_mix_is_written_unchanged(tmp_path: Path) -> None:
    """Silence with no music cannot be normalised; it is written as silence and reported so."""
    silent = tmp_path / "silent.wav"
    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono:d=2", str(silent))
    out = tmp_path / "mix.wav"
    report = mix_audio(silent, out, duration=2.0, music=None, timeout=60)
    assert report.integrated_lufs == SILENCE_LUFS
    assert np.abs(_decode(out)).max() == 0.0


def test_clip_sound_is_placed_and_ducked(voice_wav: Path, tmp_path: Path) -> None:
    """Clip sound plays from its in-point at its timeline start, ducks under speech; mute clips
    are skipped."""
    clip = tmp_path / "clip.mp4"
    # A 14 kHz tone that starts 1 s into the clip: with in-point 1 s it is heard at once.
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x64:r=30:d=5",
            "-f", "lavfi", "-i", f"sine=f=14000:r={RATE}:d=5",
            "-filter_complex", "[1:a]volume='if(lt(t,1),0,1)':eval=frame[a]",
            "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast",
            "-c:a", "aac", "-t", "5", str(clip))
    mute = tmp_path / "mute.mp4"
    _ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=64x64:r=30:d=2", "-c:v", "libx264",
            "-preset", "ultrafast", str(mute))
    out = tmp_path / "mix.wav"
    # On the timeline: clip sound 0.5-3.5 s; the voice starts speaking at 2 s.
    mix_audio(voice_wav, out, duration=6.0, music=None,
              clip_audio=[(clip, 0.5, 1.0, 3.0), (mute, 3.0, 0.0, 2.0)], timeout=60)
    levels = 10 * np.log10(_window_power(_music_band(out), 120) + 1e-20)
    before, alone, under_voice, after = levels[:8], levels[12:36], levels[46:66], levels[74:]
    # (the voice's faint leakage above 12 kHz stays some 20 dB under the clip)
    assert alone.min() > max(before.max(), after.max()) + 20
    assert alone.mean() - under_voice.mean() >= 10


def test_failed_mix_leaves_nothing(tmp_path: Path) -> None:
    """A voice file ffmpeg cannot read raises ToolError and leaves no output or temp file."""
    bad = tmp_path / "voice.wav"
    bad.write_text("not audio")
    out = tmp_path / "out" / "mix.wav"
    with pytest.raises(ToolError):
        mix_audio(bad, out, duration=2.0, music=None, timeout=30)
    assert list(out.parent.iterdir()) == []


def test_continuing_clip_sound_is_one_segment() -> None:
    """Segments that play one file on (overlapping at transitions) join; a jump in the clip's
    time, another file or a gap keeps them apart."""
    a, b = Path("a.mp4"), Path("b.mp4")
    assert join_continuing([(a, 0.0, 0.0, 2.25), (a, 1.75, 1.75, 3.5), (a, 4.75, 4.75, 3.0)]) \
        == [(a, 0.0, 0.0, 7.75)]
    apart = [(a, 0.0, 0.0, 2.25), (a, 1.75, 0.0, 3.0), (b, 4.25, 4.25, 2.0),
             (b, 7.0, 7.0, 1.0)]
    assert join_continuing(apart) == apart


def test_clip_sound_cut_into_overlapping_visuals_plays_once(tmp_path: Path) -> None:
    """A clip's steady tone, cut into visuals that overlap for their transitions as the
    timeline makes them, stays at one level through the cuts (each overlap played the sound
    twice, 6 dB louder)."""
    clip = tmp_path / "clip.mp4"
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x64:r=30:d=7",
            "-f", "lavfi", "-i", f"sine=f=14000:r={RATE}:d=7", "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-t", "7", str(clip))
    silent = tmp_path / "silent.wav"
    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono:d=6", str(silent))
    out = tmp_path / "mix.wav"
    mix_audio(silent, out, duration=6.0, music=None, timeout=60,
              clip_audio=[(clip, 0.0, 0.0, 2.25), (clip, 1.75, 1.75, 2.5),
                          (clip, 3.75, 3.75, 2.25)])
    levels = 10 * np.log10(_window_power(_music_band(out), 120)[10:110])  # 0.5-5.5 s
    assert levels.max() - levels.min() < 1.0
