"""The captions stage: word timings become caption groups and ASS, SRT, WebVTT and JSON files;
`pipeline.captions.transcribe` hears words in audio we did not synthesise (Whisper) and aligns
them to the script."""

from pipeline._exports import lazy_exports

__all__ = ["build_captions"]
__getattr__ = lazy_exports(__name__, {"build_captions": "pipeline.captions.build"})
