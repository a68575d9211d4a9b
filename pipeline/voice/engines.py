"""From a job's voice options to a ready engine: choose the voice, install it, build it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.types import StageError
from pipeline.voice.catalogue import PIPER_NAME, VoiceChoice, choose_voice, install_piper_voice
from pipeline.voice.espeak import EspeakVoice
from pipeline.voice.piper import PiperVoiceEngine
from pipeline.voice.synthesis import VoiceEngine

ENGINES = ("auto", "piper", "espeak")


@dataclass(frozen=True)
class VoiceOptions:
    """How a job wants to sound (request options over profile options over settings)."""

    engine: str = "auto"
    voice: str | None = None
    speed: float = 1.0
    sentence_pause: float = 0.25
    language: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> VoiceOptions:
        """Read the options stored on a job, ignoring unset values."""
        data = {k: v for k, v in (data or {}).items() if v is not None}
        if "engine" in data and data["engine"] not in ENGINES:
            raise StageError("voice", "unknown_engine",
                             f"unknown voice engine {data['engine']!r}; use {', '.join(ENGINES)}")
        return cls(**{k: data[k] for k in ("engine", "voice", "speed", "sentence_pause",
                                             "language") if k in data})


@dataclass(frozen=True)
class VoiceDefaults:
    """Machine-wide voice settings."""

    voices_dir: Path
    piper_voice: str | None = None
    espeak_voice: str = "en-us"
    speech_rate: int = 165
    downloads: bool = True


def resolve_voice(options: VoiceOptions, language: str, defaults: VoiceDefaults) -> VoiceChoice:
    """The voice for a script in `language` (raises voice_language_mismatch and friends)."""
    return choose_voice(language=language, engine=options.engine, voice=options.voice,
                        voices_dir=defaults.voices_dir, default_piper=defaults.piper_voice,
                        default_espeak=defaults.espeak_voice)


def build_engine(choice: VoiceChoice, options: VoiceOptions,
                 defaults: VoiceDefaults) -> VoiceEngine:
    """An engine speaking with the chosen voice; a missing Piper voice is installed first."""
    if choice.engine == "espeak":
        return EspeakVoice(choice.name, max(80, round(defaults.speech_rate * options.speed)))
    path = Path(choice.path) if choice.path else defaults.voices_dir / f"{choice.name}.onnx"
    if not (path.is_file() and Path(f"{path}.json").is_file()):
        if not (PIPER_NAME.match(choice.name) and defaults.downloads):
            raise StageError(
                "voice", "voice_missing",
                f"Piper voice {choice.name} is not installed in {defaults.voices_dir}; run "
                f"`videofactory voices install {choice.name}` or put {path.name} and "
                f"{path.name}.json there",
            )
        path = install_piper_voice(choice.name, defaults.voices_dir)
    return PiperVoiceEngine(path, speed=options.speed)
