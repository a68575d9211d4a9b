"""The captions stage: word timings become caption groups, written by each CaptionWriter
(ASS for the burned-in karaoke, SRT, WebVTT and JSON sidecars); `pipeline.captions.transcribe`
hears words in audio we did not synthesise (Whisper) and aligns them to the script."""

from pipeline._exports import lazy_exports

__all__ = ["CaptionWriter", "build_captions"]
__getattr__ = lazy_exports(__name__, {"CaptionWriter": "pipeline.captions.build",
                                      "build_captions": "pipeline.captions.build"})
