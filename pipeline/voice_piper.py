"""Piper (VITS, ONNX): natural voices from a local model file."""

from __future__ import annotations

import array
import functools
import threading
from pathlib import Path
from typing import Any

from pipeline.types import StageError
from pipeline.voice import Speech

_SENTENCE_ENDS = (".", "!", "?", "。", "！", "？", "؟", "…")
_LOAD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load_voice(model_path: str, use_cuda: bool) -> Any:
    """Load a voice once per process: a worker reuses it for every task."""
    from piper import PiperVoice

    return PiperVoice.load(model_path, use_cuda=use_cuda)


def _cuda_available() -> bool:
    try:
        import onnxruntime

        return "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    except ImportError:
        return False


def _sentences(tokens: list[str]) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    for token in tokens:
        groups[-1].append(token)
        if token.endswith(_SENTENCE_ENDS):
            groups.append([])
    return [group for group in groups if group]


class PiperVoiceEngine:
    """A Piper voice; word starts are spread over each sentence by the length of its words."""

    name = "piper"

    def __init__(self, model_path: Path) -> None:
        self.model_path = Path(model_path)

    def available(self) -> bool:
        """Whether the model and its .onnx.json are on disk."""
        return self.model_path.is_file() and Path(f"{self.model_path}.json").is_file()

    def _voice(self) -> Any:
        if not self.available():
            raise StageError(
                "voice", "voice_missing",
                f"Piper voice {self.model_path} (and {self.model_path}.json) not found; "
                "download an .onnx voice with its .onnx.json and set PIPER_VOICE to its path, "
                "or unset PIPER_VOICE to use espeak-ng",
            )
        with _LOAD_LOCK:
            return _load_voice(str(self.model_path.resolve()), _cuda_available())

    def speak(self, tokens: list[str]) -> Speech:
        """Speak sentence by sentence so every sentence's words stay inside its audio."""
        voice = self._voice()
        samples = array.array("h")
        starts: list[int | None] = []
        sample_rate = int(voice.config.sample_rate)
        for sentence in _sentences(tokens):
            sentence_start = len(samples)
            for chunk in voice.synthesize(" ".join(sentence)):
                samples.frombytes(chunk.audio_int16_bytes)
            length = len(samples) - sentence_start
            weights = [len(token) + 1 for token in sentence]
            total = sum(weights)
            elapsed = 0
            for weight in weights:
                starts.append(sentence_start + length * elapsed // total)
                elapsed += weight
        return Speech(samples=samples, sample_rate=sample_rate, token_starts=tuple(starts))
