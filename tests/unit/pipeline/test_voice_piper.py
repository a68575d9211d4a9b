"""The Piper engine, driven through the real piper-tts runtime with a tiny generated voice."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pipeline.types import Scene, Script, StageError
from pipeline.voice import synthesize_script
from pipeline.voice_piper import PiperVoiceEngine, _load_voice, _sentences

SAMPLE_RATE = 22050
HOP = 256
TONE_HZ = 220.0


def _build_tiny_voice(model: Path) -> Path:
    """A Piper-format VITS stand-in: 2–4 frames of a 220 Hz tone per phoneme id.

    Follows /work/shared/notes/media-stack.md §2: inputs `input`, `input_lengths`, `scales`;
    the duration path ends in a `Ceil` (VITS `w_ceil`), 256 samples per frame.
    """

    def const(name: str, value: np.ndarray) -> onnx.NodeProto:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))

    nodes = [
        const("three", np.array(3, np.int64)),
        const("length_index", np.array(1, np.int64)),
        const("two", np.array(2.0, np.float32)),
        const("axis1", np.array([1], np.int64)),
        const("hop", np.array(float(HOP), np.float32)),
        const("zero", np.array(0.0, np.float32)),
        const("one", np.array(1.0, np.float32)),
        const("omega", np.array(2 * math.pi * TONE_HZ / SAMPLE_RATE, np.float32)),
        const("amplitude", np.array(0.3, np.float32)),
        const("shape", np.array([1, 1, -1], np.int64)),
        helper.make_node("Mod", ["input", "three"], ["id_mod"]),
        helper.make_node("Cast", ["id_mod"], ["id_mod_f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["id_mod_f", "two"], ["frames_per_id"]),
        helper.make_node("Gather", ["scales", "length_index"], ["length_scale"], axis=0),
        helper.make_node("Mul", ["frames_per_id", "length_scale"], ["w"]),
        helper.make_node("Unsqueeze", ["w", "axis1"], ["w_3d"]),
        helper.make_node("Ceil", ["w_3d"], ["w_ceil"]),
        helper.make_node("ReduceSum", ["w_ceil"], ["frames"], keepdims=0),
        helper.make_node("Mul", ["frames", "hop"], ["n_samples"]),
        helper.make_node("Range", ["zero", "n_samples", "one"], ["t"]),
        helper.make_node("Mul", ["t", "omega"], ["phase"]),
        helper.make_node("Sin", ["phase"], ["sine"]),
        helper.make_node("Mul", ["sine", "amplitude"], ["audio"]),
        helper.make_node("Reshape", ["audio", "shape"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_piper",
        [helper.make_tensor_value_info("input", TensorProto.INT64, [1, "phonemes"]),
         helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
         helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, None])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    onnx.save(proto, str(model))

    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

    config = {
        "audio": {"sample_rate": SAMPLE_RATE}, "espeak": {"voice": "en-us"},
        "phoneme_type": "espeak", "phoneme_id_map": DEFAULT_PHONEME_ID_MAP,
        "num_symbols": 256, "num_speakers": 1, "speaker_id_map": {}, "hop_length": HOP,
        "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
        "piper_version": "1.0.0",
    }
    Path(f"{model}.json").write_text(json.dumps(config), encoding="utf-8")
    return model


@pytest.fixture(scope="module")
def tiny_voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path to a tiny Piper voice (.onnx next to its .onnx.json)."""
    return _build_tiny_voice(tmp_path_factory.mktemp("piper") / "tiny.onnx")


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
    """One start per token, strictly increasing from 0 and inside the 22.05 kHz audio."""
    tokens = "Hello there. How are you today? Fine, thanks!".split()
    speech = engine.speak(tokens)
    assert speech.sample_rate == SAMPLE_RATE
    assert len(speech.token_starts) == len(tokens)
    starts = [s for s in speech.token_starts if s is not None]
    assert len(starts) == len(tokens)
    assert starts[0] == 0
    assert all(a < b for a, b in zip(starts, starts[1:], strict=False))
    assert starts[-1] < len(speech.samples)
    # Each sentence is synthesised on its own: its first word starts where a chunk of whole
    # 256-sample frames ended.
    for first in (tokens.index("How"), tokens.index("Fine,")):
        assert starts[first] % HOP == 0
    assert len(speech.samples) % HOP == 0


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
    assert long.token_starts[1] == len(short.samples)


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
    assert _sentences(tokens) == sentences
