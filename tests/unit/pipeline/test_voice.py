"""The voice stage with espeak-ng: one WAV and the time of every word on it."""

from __future__ import annotations

import array
import json
import random
import wave
from pathlib import Path

import numpy as np
import pytest

from pipeline.script.template import generate_script
from pipeline.text.clean import has_words
from pipeline.types import IdeaSource, Scene, Script, StageError, Voiceover
from pipeline.voice.espeak import EspeakVoice
from pipeline.voice.synthesis import (
    SCENE_PAUSE_SECONDS,
    Speech,
    _fill_missing_starts,
    speech_tokens,
    synthesize_script,
)

# --- speech_tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Hello, world!", ["Hello,", "world!"]),
        ("  spaced   out\ttext\n", ["spaced", "out", "text"]),
        ("hello — world", ["hello —", "world"]),
        ("— hello world", ["— hello", "world"]),
        ("Wait ... what ?!", ["Wait ...", "what ?!"]),
        ("Launch 🚀 day 🔥", ["Launch", "day"]),
        ("كيف تصنع القهوة؟", ["كيف", "تصنع", "القهوة؟"]),
        ("如何在家做咖啡。", ["如何在家做咖啡。"]),
        ("It costs €19.99 today", ["It", "costs", "€19.99", "today"]),
        ("— … !", []),
        ("🚀🔥", []),
        ("", []),
    ],
)
def test_speech_tokens(text: str, tokens: list[str]) -> None:
    """Words split on whitespace; lone symbols cling to a neighbouring word; emoji vanish."""
    assert speech_tokens(text) == tokens


def test_speech_tokens_all_hold_a_word(robust_idea: str, emoji_chars: frozenset[str]) -> None:
    """Every token of any sample narration holds a letter or digit and no emoji."""
    tokens = speech_tokens(generate_script(IdeaSource(robust_idea)).narration)
    assert tokens
    assert all(has_words(token) for token in tokens)
    assert not set("".join(tokens)) & emoji_chars


# --- _fill_missing_starts --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("starts", "total", "filled"),
    [
        ([0, 10, 20], 30, [0, 10, 20]),
        ([0, None, 100], 200, [0, 50, 100]),
        ([0, None, None, 90], 120, [0, 30, 60, 90]),
        ([0, None, None], 90, [0, 30, 60]),
        ([50, 20, 70], 100, [50, 50, 70]),
        ([], 100, []),
    ],
)
def test_fill_missing_starts_examples(starts: list[int | None], total: int,
                                      filled: list[int]) -> None:
    """Gaps are spread evenly between known neighbours; a start going backwards is clamped."""
    assert _fill_missing_starts(starts, total) == filled


def test_fill_missing_starts_first_token_starts_with_the_audio() -> None:
    """When the engine gives the first tokens no event, the first token still starts at 0."""
    assert _fill_missing_starts([None, None, 100], 200) == [0, 50, 100]


def test_fill_missing_starts_properties() -> None:
    """For random inputs: same length, non-decreasing, inside [0, total], known starts kept."""
    rng = random.Random(1234)
    for _ in range(500):
        total = rng.randint(0, 10_000)
        known = sorted(rng.randint(0, total) for _ in range(rng.randint(0, 12)))
        starts: list[int | None] = [s if rng.random() < 0.6 else None for s in known]
        starts += [None] * rng.randint(0, 3)
        filled = _fill_missing_starts(starts, total)
        assert len(filled) == len(starts)
        assert all(0 <= s <= total for s in filled)
        assert filled == sorted(filled)
        assert all(f == s for f, s in zip(filled, starts, strict=True) if s is not None)


# --- espeak-ng engine ------------------------------------------------------------------------


def _speech_array(speech: Speech) -> np.ndarray:
    return np.frombuffer(speech.samples.tobytes(), dtype=np.int16).astype(np.float64) / 32768.0


def test_espeak_speak_gives_one_increasing_start_per_token(espeak: EspeakVoice) -> None:
    """Every token gets an exact start; starts begin at 0, increase and lie inside the audio."""
    tokens = "The new ceramic mug costs €19.99 and holds 350 ml.".split()
    speech = espeak.speak(tokens)
    assert speech.sample_rate == 22050
    assert len(speech.token_starts) == len(tokens)
    assert all(s is not None for s in speech.token_starts)
    starts = [s for s in speech.token_starts if s is not None]
    assert starts[0] == 0
    assert all(a < b for a, b in zip(starts, starts[1:], strict=False))
    assert starts[-1] < len(speech.samples)
    # "€19.99" is spoken as five words: the next token starts well over a second later.
    euro = tokens.index("€19.99")
    assert (starts[euro + 1] - starts[euro]) / speech.sample_rate > 1.0


def test_espeak_word_starts_sit_on_energy_onsets(espeak: EspeakVoice, levels) -> None:
    """Speech follows each word start within 120 ms; the pause before a new sentence is quiet."""
    window_db, _ = levels
    tokens = "Good morning, my friend. The sun is shining today.".split()
    speech = espeak.speak(tokens)
    audio = _speech_array(speech)
    rate = speech.sample_rate
    db = window_db(audio, rate)  # 10 ms windows
    starts = [s for s in speech.token_starts if s is not None]
    assert len(starts) == len(tokens)
    for token, start in zip(tokens, starts, strict=True):
        first = start // (rate // 100)
        after = db[first : first + 12]
        assert after.max() > -30, f"no speech within 120 ms after {token!r} starts"
    # The word after a sentence end starts at the end of the pause, not at its beginning.
    the = tokens.index("The")
    pause = db[starts[the] // (rate // 100) - 15 : starts[the] // (rate // 100)]
    assert pause.max() < -45, "the 150 ms before the second sentence should be a pause"
    # Speech between words is louder than the pause: the whole sentence is not quiet.
    assert np.median(db[: starts[the] // (rate // 100) - 20]) > -35


def test_espeak_unknown_voice_is_a_stage_error() -> None:
    """A voice name espeak-ng does not know fails with code `unknown_voice` naming the voice."""
    with pytest.raises(StageError) as caught:
        EspeakVoice("zz-nonexistent").speak(["hello"])
    assert (caught.value.stage, caught.value.code) == ("voice", "unknown_voice")
    assert "zz-nonexistent" in caught.value.message


def test_espeak_speaks_other_languages(levels) -> None:
    """A French voice reads accented text and still reports an increasing start per token."""
    _, level_db = levels
    tokens = "Crème brûlée à la maison.".split()
    speech = EspeakVoice("fr").speak(tokens)
    starts = [s for s in speech.token_starts if s is not None]
    assert len(starts) == len(tokens)
    assert starts == sorted(starts) and starts[-1] < len(speech.samples)
    assert level_db(_speech_array(speech)) > -35


# --- synthesize_script -----------------------------------------------------------------------


def test_synthesize_script_writes_the_wav_the_voiceover_describes(
    espeak: EspeakVoice, tiny_script: Script, tmp_path: Path, wav_reader, levels
) -> None:
    """The WAV's rate and length match the Voiceover; words and scenes lie on its timeline."""
    _, level_db = levels
    progress: list[float] = []
    out = tmp_path / "nested" / "voice.wav"
    voice = synthesize_script(tiny_script, espeak, out, on_progress=progress.append)
    audio, rate = wav_reader(out)
    assert rate == voice.sample_rate == 22050
    assert voice.duration == pytest.approx(len(audio) / rate)
    assert voice.engine == "espeak"
    assert progress == [0.5, 1.0]

    expected = [t for scene in tiny_script.scenes for t in speech_tokens(scene.narration)]
    assert [w.text for w in voice.words] == expected
    starts = [w.start for w in voice.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= voice.duration for w in voice.words)

    first, second = voice.scenes
    assert (first.index, second.index) == (0, 1)
    assert first.start == 0.0
    assert second.start - first.end == pytest.approx(SCENE_PAUSE_SECONDS, abs=1 / rate)
    assert voice.duration - second.end == pytest.approx(SCENE_PAUSE_SECONDS, abs=1 / rate)
    # The pause between scenes is digital silence; each scene has speech.
    gap = audio[round(first.end * rate) : round(second.start * rate)]
    assert len(gap) > 0 and not gap.any()
    assert level_db(audio[: round(first.end * rate)]) > -35
    assert level_db(audio[round(second.start * rate) : round(second.end * rate)]) > -35
    # Words belong to their scene's interval.
    n_first = len(speech_tokens(tiny_script.scenes[0].narration))
    assert all(first.start <= w.start and w.end <= first.end for w in voice.words[:n_first])
    assert all(second.start <= w.start and w.end <= second.end for w in voice.words[n_first:])


def test_synthesize_script_first_word_of_each_scene_is_heard(
    espeak: EspeakVoice, tiny_script: Script, tmp_path: Path, wav_reader, levels
) -> None:
    """Right after each scene's first word starts the WAV is louder than the scene gap."""
    window_db, _ = levels
    voice = synthesize_script(tiny_script, espeak, tmp_path / "v.wav")
    audio, rate = wav_reader(tmp_path / "v.wav")
    db = window_db(audio, rate)
    for scene in voice.scenes:
        word = next(w for w in voice.words if w.start >= scene.start)
        k = int(word.start * 100)
        assert db[k : k + 15].max() > -30
    gap = int(voice.scenes[0].end * 100) + 1
    assert db[gap : int(voice.scenes[1].start * 100) - 1].max() < -90


def test_voiceover_round_trips_through_json(espeak: EspeakVoice, tmp_path: Path) -> None:
    """`Voiceover.to_dict` → JSON → `from_dict` gives an equal object."""
    script = generate_script(IdeaSource("كيف تصنع القهوة؟"))
    voice = synthesize_script(script, espeak, tmp_path / "v.wav")
    assert Voiceover.from_dict(json.loads(json.dumps(voice.to_dict()))) == voice


def test_robust_ideas_give_a_voice(robust_idea: str, espeak: EspeakVoice, tmp_path: Path,
                                   emoji_chars: frozenset[str]) -> None:
    """Every sample idea gives a voiceover whose words hold no emoji and lie inside the WAV."""
    script = generate_script(IdeaSource(robust_idea))
    voice = synthesize_script(script, espeak, tmp_path / "v.wav")
    assert len(voice.scenes) == len(script.scenes)
    assert voice.words
    assert not set("".join(w.text for w in voice.words)) & emoji_chars
    starts = [w.start for w in voice.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= voice.duration for w in voice.words)
    with wave.open(str(tmp_path / "v.wav"), "rb") as wav:
        assert wav.getnframes() / wav.getframerate() == pytest.approx(voice.duration)


def test_scene_without_words_is_skipped(espeak: EspeakVoice, tmp_path: Path) -> None:
    """A scene whose narration is only emoji is left out; the others keep their own index."""
    script = Script("t", (Scene("One.", "a"), Scene("🚀 🔥", "b"), Scene("Three.", "c")), "", ())
    voice = synthesize_script(script, espeak, tmp_path / "v.wav")
    assert [s.index for s in voice.scenes] == [0, 2]
    assert [w.text for w in voice.words] == ["One.", "Three."]


def test_script_without_words_is_a_stage_error(espeak: EspeakVoice, tmp_path: Path) -> None:
    """A script with nothing to say fails with code `nothing_to_say` and writes no WAV."""
    script = Script("t", (Scene("🚀", "a"), Scene(" — ", "b")), "", ())
    with pytest.raises(StageError) as caught:
        synthesize_script(script, espeak, tmp_path / "v.wav")
    assert (caught.value.stage, caught.value.code) == ("voice", "nothing_to_say")
    assert not (tmp_path / "v.wav").exists()


class _FakeEngine:
    """An engine with scripted audio lengths, rates and token events."""

    name = "fake"

    def __init__(self, rates: list[int], starts: list[int | None] | None = None) -> None:
        self.rates = rates
        self.starts = starts

    def available(self) -> bool:
        return True

    def speak(self, tokens: list[str]) -> Speech:
        rate = self.rates.pop(0)
        samples = array.array("h", [1000] * (rate // 2))
        starts = self.starts if self.starts is not None else [None] * len(tokens)
        return Speech(samples, rate, tuple(starts))


def test_tokens_without_events_get_spread_starts(tmp_path: Path) -> None:
    """Words the engine gave no event still get increasing starts inside their scene."""
    engine = _FakeEngine([1000], [0, None, None, 300])
    script = Script("t", (Scene("one two three four", "a"),), "", ())
    voice = synthesize_script(script, engine, tmp_path / "v.wav")
    assert [w.start for w in voice.words] == [0.0, 0.1, 0.2, 0.3]
    assert [w.end for w in voice.words] == [0.1, 0.2, 0.3, 0.5]
    assert voice.duration == pytest.approx(0.5 + SCENE_PAUSE_SECONDS)


def test_sample_rate_change_mid_script_is_a_stage_error(tmp_path: Path) -> None:
    """An engine that changes sample rate between scenes fails with code `engine_error`."""
    engine = _FakeEngine([1000, 2000])
    script = Script("t", (Scene("one.", "a"), Scene("two.", "b")), "", ())
    with pytest.raises(StageError) as caught:
        synthesize_script(script, engine, tmp_path / "v.wav")
    assert caught.value.code == "engine_error"
