"""Pick the voice engine a job asked for, or the best one available."""

from __future__ import annotations

from pathlib import Path

from pipeline.types import StageError
from pipeline.voice import VoiceEngine
from pipeline.voice_espeak import EspeakVoice
from pipeline.voice_piper import PiperVoiceEngine


def select_engine(
    engine: str = "auto",
    *,
    piper_voice: str | None = None,
    espeak_voice: str = "en-us",
    speech_rate: int = 165,
) -> VoiceEngine:
    """`auto` takes Piper when a voice model is configured, espeak-ng otherwise."""
    if engine == "piper" or (engine == "auto" and piper_voice):
        if not piper_voice:
            raise StageError("voice", "voice_missing",
                             "the piper engine needs a voice model: set PIPER_VOICE to an .onnx")
        return PiperVoiceEngine(Path(piper_voice))
    if engine in {"auto", "espeak"}:
        return EspeakVoice(espeak_voice, speech_rate)
    raise StageError("voice", "unknown_engine", f"unknown voice engine {engine!r}")
