"""Piper (VITS, ONNX): natural voices from a local model file, word times from alignments."""

from __future__ import annotations

import array
import functools
import threading
from pathlib import Path
from typing import Any

from pipeline.types import StageError
from pipeline.voice.synthesis import Speech

_LOAD_LOCK = threading.Lock()
_WORD_BREAK = " "


@functools.lru_cache(maxsize=4)
def _load_voice(model_path: str, use_cuda: bool) -> Any:
    """Load a voice once per process: a worker reuses it for every task.

    `include_alignments` patches real VITS voices in memory so they report how many samples
    each phoneme lasts (needs the `onnx` package: the `piper-tts[alignment]` extra).
    """
    from piper import PiperVoice

    return PiperVoice.load(model_path, use_cuda=use_cuda, include_alignments=True)


def cuda_available() -> bool:
    """Whether onnxruntime can run Piper on a GPU here."""
    try:
        import onnxruntime

        return "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    except ImportError:
        return False


def _word_starts(alignments: list[Any]) -> list[int]:
    """Sample where each phoneme word starts (words are separated by a space phoneme)."""
    starts: list[int] = []
    position = 0
    at_break = True
    for alignment in alignments:
        phoneme = alignment.phoneme
        if phoneme in (_WORD_BREAK, "^", "$"):  # a space, or a sentence's start or end
            at_break = True
        elif phoneme != "_" and at_break:
            starts.append(position)
            at_break = False
        position += int(alignment.num_samples)
    return starts


def _proportional_starts(tokens: list[str], total: int) -> list[int | None]:
    weights = [len(token) + 1 for token in tokens]
    starts: list[int | None] = []
    elapsed = 0
    for weight in weights:
        starts.append(total * elapsed // sum(weights))
        elapsed += weight
    return starts


class PiperVoiceEngine:
    """A Piper voice; each token starts where its first phoneme word starts."""

    name = "piper"

    def __init__(self, model_path: Path, speed: float = 1.0) -> None:
        self.model_path = Path(model_path)
        self.speed = speed

    def available(self) -> bool:
        """Whether the model and its .onnx.json are on disk."""
        return self.model_path.is_file() and Path(f"{self.model_path}.json").is_file()

    def _voice(self) -> Any:
        if not self.available():
            raise StageError(
                "voice", "voice_missing",
                f"Piper voice {self.model_path} (and {self.model_path}.json) not found; "
                "install it with `videofactory voices install NAME`, point PIPER_VOICE at an "
                "existing model, or use the espeak engine (VOICE_ENGINE=espeak)",
            )
        with _LOAD_LOCK:
            return _load_voice(str(self.model_path.resolve()), cuda_available())

    def speak(self, tokens: list[str]) -> Speech:
        """Speak the tokens in one call; alignments give each token's start."""
        from piper import SynthesisConfig

        voice = self._voice()
        config = SynthesisConfig(length_scale=1.0 / max(0.25, self.speed))
        samples = array.array("h")
        alignments: list[Any] = []
        complete = True
        for chunk in voice.synthesize(" ".join(tokens), syn_config=config,
                                      include_alignments=True):
            samples.frombytes(chunk.audio_int16_bytes)
            if chunk.phoneme_alignments is None:
                complete = False
            else:
                alignments.extend(chunk.phoneme_alignments)
        starts = self._token_starts(voice, tokens, alignments) if complete else None
        if starts is None:
            # No alignments (an unpatchable model): spread the words by their length.
            starts = _proportional_starts(tokens, len(samples))
        return Speech(samples=samples, sample_rate=int(voice.config.sample_rate),
                      token_starts=tuple(starts))

    @staticmethod
    def _token_starts(voice: Any, tokens: list[str],
                      alignments: list[Any]) -> list[int | None] | None:
        """Regroup phoneme words into our tokens: a token may be several spoken words."""
        word_starts = _word_starts(alignments)
        counts = []
        for token in tokens:
            phonemes = [p for sentence in voice.phonemize(token) for p in sentence]
            counts.append(max(1, "".join(phonemes).strip().count(_WORD_BREAK) + 1)
                          if any(p.strip() for p in phonemes) else 0)
        if sum(counts) != len(word_starts):
            return None
        starts: list[int | None] = []
        index = 0
        for count in counts:
            starts.append(word_starts[index] if count else None)
            index += count
        return starts
