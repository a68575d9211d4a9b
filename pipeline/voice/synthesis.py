"""The voice stage: narration becomes one WAV and the timing of every word in it."""

from __future__ import annotations

import array
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pipeline.text.clean import clean_text, has_words
from pipeline.text.normalize import is_abbreviation, strip_unspoken
from pipeline.types import (
    ProgressCallback,
    SceneTiming,
    Script,
    StageError,
    Voiceover,
    WordTiming,
    no_progress,
)

# Silence between scenes: long enough to hear a new beat, short enough to keep the pace.
SCENE_PAUSE_SECONDS = 0.3


@dataclass(frozen=True)
class Speech:
    """One synthesis call's audio (mono int16) and the start sample of each token."""

    samples: array.array  # array('h')
    sample_rate: int
    token_starts: tuple[int | None, ...]  # None: the engine gave this token no event


class VoiceEngine(Protocol):
    """A text-to-speech engine that reports when each word starts."""

    name: str

    def available(self) -> bool:
        """Whether the engine can run here."""

    def speak(self, tokens: list[str]) -> Speech:
        """Synthesise the tokens, joined by spaces, in one call.

        Args:
            tokens: whitespace-free words of the text, in order.
        Returns:
            The audio and, per token, the sample where it starts within that audio.
        """


def speech_tokens(text: str) -> list[str]:
    """Split narration into the words captions show; symbols cling to their neighbour."""
    tokens: list[str] = []
    for raw in clean_text(strip_unspoken(text)).split():
        if has_words(raw) or not tokens:
            tokens.append(raw)
        else:
            tokens[-1] = f"{tokens[-1]} {raw}"
    if tokens and not has_words(tokens[0]):
        # A leading symbol ("— hello") belongs to the first word.
        if len(tokens) > 1:
            tokens[1] = f"{tokens[0]} {tokens[1]}"
        tokens = tokens[1:]
    return tokens


def _fill_missing_starts(starts: list[int | None], total: int) -> list[int]:
    """Give tokens without an engine event a start between their neighbours."""
    filled: list[int] = []
    n = len(starts)
    for i, start in enumerate(starts):
        if start is not None:
            filled.append(max(start, filled[-1] if filled else 0))
            continue
        if not filled:
            filled.append(0)  # leading words without an event start with the audio
            continue
        prev = filled[-1]
        nxt = next((s for s in starts[i + 1 :] if s is not None), total)
        gap_tokens = next((j - i for j in range(i + 1, n) if starts[j] is not None), n - i) + 1
        filled.append(prev + (max(nxt, prev) - prev) // gap_tokens)
    return filled


SENTENCE_ENDS = (".", "!", "?", "。", "！", "？", "؟", "…")
# Each spoken piece fades in and out over this long, so pieces join without clicks.
FADE_SECONDS = 0.005


def split_sentences(tokens: list[str], language: str = "en") -> list[list[str]]:
    """Group tokens into sentences: an end mark ends one unless it closes an abbreviation."""
    groups: list[list[str]] = [[]]
    for i, token in enumerate(tokens):
        groups[-1].append(token)
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token.endswith(SENTENCE_ENDS) and not is_abbreviation(token, language,
                                                                  following=following):
            groups.append([])
    return [group for group in groups if group]


def _faded(samples: array.array, sample_rate: int) -> array.array:
    """Ramp the first and last few milliseconds so a cut never lands mid-waveform."""
    import numpy as np

    audio = np.frombuffer(samples, dtype=np.int16).astype(np.float32)
    ramp = min(len(audio) // 2, int(FADE_SECONDS * sample_rate))
    if ramp > 0:
        shape = np.linspace(0.0, 1.0, ramp, dtype=np.float32)
        audio[:ramp] *= shape
        audio[-ramp:] *= shape[::-1]
    return array.array("h", audio.astype(np.int16).tobytes())


def _speak_sentence(engine: VoiceEngine, written: list[str],
                    spoken: list[str]) -> tuple[Speech, list[int | None]]:
    """Speak the spoken forms; starts come back per written token (None: not spoken)."""
    said = [(i, form) for i, form in enumerate(spoken) if form.strip()]
    if not said:
        return Speech(array.array("h"), 0, ()), [None] * len(written)
    speech = engine.speak([form for _, form in said])
    starts: list[int | None] = [None] * len(written)
    for (index, _), start in zip(said, speech.token_starts, strict=True):
        starts[index] = start
    return speech, starts


def synthesize_script(
    script: Script,
    engine: VoiceEngine,
    out_wav: Path,
    *,
    sentence_pause: float = 0.25,
    spoken_forms: Callable[[list[str]], list[str]] | None = None,
    on_progress: ProgressCallback = no_progress,
) -> Voiceover:
    """Speak the script sentence by sentence into one WAV, stitched with pauses.

    Word and scene times are on the WAV's timeline; words keep the script's spelling while
    the engine hears `spoken_forms` of them (numbers, prices and units spelled out).
    """
    samples = array.array("h")
    words: list[WordTiming] = []
    scenes: list[SceneTiming] = []
    sample_rate = 0
    spoken_scenes = [(i, speech_tokens(s.narration)) for i, s in enumerate(script.scenes)]
    spoken_scenes = [(i, tokens) for i, tokens in spoken_scenes if tokens]
    if not spoken_scenes:
        raise StageError("voice", "nothing_to_say", "the script has no words to speak")
    total_sentences = sum(len(split_sentences(tokens, script.language))
                          for _, tokens in spoken_scenes)
    done = 0
    for index, tokens in spoken_scenes:
        scene_start = len(samples)
        for sentence in split_sentences(tokens, script.language):
            spoken = spoken_forms(sentence) if spoken_forms else sentence
            speech, starts = _speak_sentence(engine, sentence, spoken)
            if speech.sample_rate:
                if sample_rate and speech.sample_rate != sample_rate:
                    raise StageError("voice", "engine_error",
                                     "the voice changed sample rate mid-script")
                sample_rate = speech.sample_rate
            offset = len(samples)
            filled = _fill_missing_starts(starts, len(speech.samples))
            ends = filled[1:] + [len(speech.samples)]
            rate = sample_rate or 1
            for token, start, end in zip(sentence, filled, ends, strict=True):
                words.append(WordTiming(token, (offset + start) / rate,
                                        (offset + max(end, start)) / rate))
            samples.extend(_faded(speech.samples, rate))
            speech_end = len(samples)
            samples.extend(array.array("h", bytes(2 * int(sentence_pause * rate))))
            done += 1
            on_progress(done / total_sentences)
        if not sample_rate:
            raise StageError("voice", "nothing_to_say", "the script has no words to speak")
        scenes.append(SceneTiming(index, scene_start / sample_rate, speech_end / sample_rate))
        extra = int(SCENE_PAUSE_SECONDS * sample_rate) - int(sentence_pause * sample_rate)
        samples.extend(array.array("h", bytes(2 * max(0, extra))))
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(out_wav), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(samples.tobytes())
    return Voiceover(
        duration=len(samples) / sample_rate,
        sample_rate=sample_rate,
        words=tuple(words),
        scenes=tuple(scenes),
        engine=engine.name,
    )
