"""The voice stage: narration becomes one WAV and the timing of every word in it."""

from __future__ import annotations

import array
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pipeline.text import clean_text, has_words
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
    for raw in clean_text(text).split():
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


def synthesize_script(
    script: Script,
    engine: VoiceEngine,
    out_wav: Path,
    *,
    on_progress: ProgressCallback = no_progress,
) -> Voiceover:
    """Speak every scene in turn into one WAV; word and scene times are on its timeline."""
    samples = array.array("h")
    words: list[WordTiming] = []
    scenes: list[SceneTiming] = []
    sample_rate = 0
    spoken_scenes = [(i, speech_tokens(s.narration)) for i, s in enumerate(script.scenes)]
    spoken_scenes = [(i, tokens) for i, tokens in spoken_scenes if tokens]
    if not spoken_scenes:
        raise StageError("voice", "nothing_to_say", "the script has no words to speak")
    for done, (index, tokens) in enumerate(spoken_scenes):
        speech = engine.speak(tokens)
        if sample_rate and speech.sample_rate != sample_rate:
            raise StageError("voice", "engine_error", "the voice changed sample rate mid-script")
        sample_rate = speech.sample_rate
        offset = len(samples)
        starts = _fill_missing_starts(list(speech.token_starts), len(speech.samples))
        ends = starts[1:] + [len(speech.samples)]
        for token, start, end in zip(tokens, starts, ends, strict=True):
            words.append(WordTiming(token, (offset + start) / sample_rate,
                                    (offset + max(end, start)) / sample_rate))
        samples.extend(speech.samples)
        scenes.append(SceneTiming(index, offset / sample_rate, len(samples) / sample_rate))
        samples.extend(array.array("h", bytes(2 * int(SCENE_PAUSE_SECONDS * sample_rate))))
        on_progress((done + 1) / len(spoken_scenes))
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
