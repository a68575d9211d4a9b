"""The voice stage: narration becomes a WAV with word timings. Engines plug in as
VoiceEngine (espeak-ng, Piper); the catalogue chooses and installs voices."""

from pipeline._exports import lazy_exports

__all__ = ["VoiceEngine", "synthesize_script"]
__getattr__ = lazy_exports(__name__, {
    "VoiceEngine": "pipeline.voice.synthesis", "synthesize_script": "pipeline.voice.synthesis",
})
