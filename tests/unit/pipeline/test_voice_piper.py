"""The Piper engine, driven through the real piper-tts runtime with a tiny generated voice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.types import Scene, Script, StageError
from pipeline.voice.piper import PiperVoiceEngine, _load_voice
from pipeline.voice.synthesis import split_sentences, synthesize_script
from tests.support.tiny_piper import HOP, SAMPLE_RATE, TONE_HZ, build_tiny_piper_voice


@pytest.fixture(scope="module")
def tiny_voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path to a tiny Piper voice (.onnx next to its .onnx.json)."""
    return build_tiny_piper_voice(tmp_path_factory.mktemp("piper") / "tiny.onnx")


@pytest.fixture
def engine(tiny_voice: Path) -> PiperVoiceEngine:
    """A Piper engine on the tiny voice."""
    return PiperVoiceEngine(tiny_voice)


def _audio(samples) -> np.ndarray:
    return np.frombuffer(samples.tobytes(), dtype=np.int16).astype(np.float64) / 32768.0


def test_available_needs_model_and_config(tiny_voice: Path, tmp_path: Path) -> None:
    """The engine is available only when both the .onnx and its .onnx.json exist."""
    assert PiperVoiceEngine(tiny_voice).available()
    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(tiny_voice.read_bytes())
    assert not PiperVoiceEngine(lonely).available()
    assert not PiperVoiceEngine(tmp_path / "absent.onnx").available()


def test_speak_gives_audio_and_increasing_starts_inside_it(engine: PiperVoiceEngine) -> None:
    """One start per token from the phoneme alignments, increasing and inside the audio."""
    tokens = "Hello there. How are you today? Fine, thanks!".split()
    speech = engine.speak(tokens)
    assert speech.sample_rate == SAMPLE_RATE
    assert len(speech.token_starts) == len(tokens)
    starts = [s for s in speech.token_starts if s is not None]
    assert len(starts) == len(tokens)
    assert all(a < b for a, b in zip(starts, starts[1:], strict=False))
    assert starts[-1] < len(speech.samples)
    # The tiny model gives every phoneme id a whole number of 256-sample frames, so a start
    # taken from the alignments lies on the frame grid; a proportional guess would not.
    assert all(start % HOP == 0 for start in starts)
    assert 0 < starts[0] <= 8 * HOP  # after the sentence-start marker and its pad
    assert len(speech.samples) % HOP == 0


def test_alignment_starts_follow_the_phonemes(engine: PiperVoiceEngine) -> None:
    """A token's start moves by exactly the samples of the phonemes before it."""
    one = engine.speak(["Hello", "there."])
    two = engine.speak(["Hello", "Hello", "there."])
    assert two.token_starts[0] == one.token_starts[0]
    word = two.token_starts[1] - two.token_starts[0]
    assert word > 0
    assert two.token_starts[2] == one.token_starts[1] + word


def test_speed_scales_the_audio(tiny_voice: Path) -> None:
    """Twice the speed gives about half the samples (Piper's length_scale)."""
    normal = PiperVoiceEngine(tiny_voice).speak("A sentence of some length.".split())
    fast = PiperVoiceEngine(tiny_voice, speed=2.0).speak("A sentence of some length.".split())
    assert len(fast.samples) == pytest.approx(len(normal.samples) / 2, rel=0.1)


def test_speak_plays_the_model_output(engine: PiperVoiceEngine) -> None:
    """The audio is the model's 220 Hz tone, normalised loud, not silence or noise."""
    speech = engine.speak("A short sentence for the tone.".split())
    audio = _audio(speech.samples)
    assert np.abs(audio).max() > 0.9
    spectrum = np.abs(np.fft.rfft(audio))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(audio)
    assert peak_hz == pytest.approx(TONE_HZ, abs=2.0)


def test_longer_text_gives_longer_audio(engine: PiperVoiceEngine) -> None:
    """Audio length grows with the number of phonemes, as the model's durations say."""
    short = engine.speak(["Hi."])
    long = engine.speak("Hi. This sentence is a good deal longer than the first one.".split())
    assert len(long.samples) > 3 * len(short.samples)
    # "This" starts after the whole first sentence and the second one's start marker.
    assert long.token_starts[1] == len(short.samples) + short.token_starts[0]


def test_voice_is_loaded_once(engine: PiperVoiceEngine) -> None:
    """A second call reuses the loaded voice from the per-process cache."""
    engine.speak(["One."])
    hits = _load_voice.cache_info().hits
    engine.speak(["Two."])
    assert _load_voice.cache_info().hits == hits + 1


def test_synthesize_script_with_piper(engine: PiperVoiceEngine, tmp_path: Path,
                                      wav_reader) -> None:
    """A whole script through Piper gives a 22.05 kHz WAV whose words lie inside their scenes."""
    script = Script("t", (Scene("Hello there. Second sentence here.", "a"),
                          Scene("Another scene, with 350 words!", "b")), "", ())
    voice = synthesize_script(script, engine, tmp_path / "v.wav")
    audio, rate = wav_reader(tmp_path / "v.wav")
    assert voice.engine == "piper"
    assert rate == voice.sample_rate == SAMPLE_RATE
    assert voice.duration == pytest.approx(len(audio) / rate)
    assert len(voice.words) == 10
    starts = [w.start for w in voice.words]
    assert all(a < b for a, b in zip(starts, starts[1:], strict=False))
    for scene, words in zip(voice.scenes, (voice.words[:5], voice.words[5:]), strict=True):
        assert all(scene.start <= w.start < w.end <= scene.end for w in words)


@pytest.mark.parametrize("missing", ["model", "config"])
def test_missing_voice_is_a_clear_stage_error(missing: str, tiny_voice: Path,
                                              tmp_path: Path) -> None:
    """Without the .onnx or its .onnx.json, speak fails with `voice_missing` naming the path."""
    model = tmp_path / "voice.onnx"
    if missing == "config":
        model.write_bytes(tiny_voice.read_bytes())
    with pytest.raises(StageError) as caught:
        PiperVoiceEngine(model).speak(["hello"])
    error = caught.value
    assert (error.stage, error.code) == ("voice", "voice_missing")
    assert str(model) in error.message
    assert "PIPER_VOICE" in error.message and "espeak" in error.message


@pytest.mark.parametrize(
    ("tokens", "sentences"),
    [
        (["a", "b."], [["a", "b."]]),
        (["a.", "b", "c?", "d"], [["a."], ["b", "c?"], ["d"]]),
        (["你好。", "再见！"], [["你好。"], ["再见！"]]),
        (["كيف؟", "حسنا"], [["كيف؟"], ["حسنا"]]),
        ([], []),
    ],
)
def test_sentences_split_after_sentence_ends(tokens: list[str],
                                             sentences: list[list[str]]) -> None:
    """Tokens are grouped into sentences that end at ., !, ?, their CJK/Arabic forms or …."""
    assert split_sentences(tokens) == sentences


def test_sentences_are_stitched_without_clicks(engine: PiperVoiceEngine, tmp_path: Path,
                                               wav_reader) -> None:
    """Each sentence fades in and out, so no join jumps (the tiny voice ends mid-waveform)."""
    script = Script("t", (Scene("First one here. Second one here. Third!", "a"),), "", ())
    synthesize_script(script, engine, tmp_path / "v.wav", sentence_pause=0.1)
    audio, _ = wav_reader(tmp_path / "v.wav")
    samples = np.asarray(audio, dtype=np.float64)
    samples = samples / max(1e-9, np.abs(samples).max())
    # Pauses are runs of exact zeros (a sine only touches zero for a sample at a time).
    zero = np.concatenate([[False], samples == 0.0, [False]])
    run_edges = np.nonzero(zero[1:] != zero[:-1])[0]
    pauses = [(a, b) for a, b in zip(run_edges[::2], run_edges[1::2], strict=True) if b - a > 100]
    assert len(pauses) >= 2  # between the three sentences
    for start, end in pauses:
        # The sample before a pause and the one after it are nearly silent: no step.
        assert abs(samples[start - 1]) < 0.05 and abs(samples[min(end, len(samples) - 1)]) < 0.05
    raw = engine.speak(["First", "one", "here."])
    raw_audio = np.asarray(raw.samples, dtype=np.float64) / 32768
    assert np.abs(raw_audio[-3:]).max() > 0.05  # unfaded, this ending would click
