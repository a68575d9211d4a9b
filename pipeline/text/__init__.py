"""Text shared by the stages: cleaning, spoken forms of numbers and units, language."""

from pipeline._exports import lazy_exports

__all__ = ["clean_text", "detect_language", "has_words", "normalise_tokens"]
__getattr__ = lazy_exports(__name__, {
    "clean_text": "pipeline.text.clean", "has_words": "pipeline.text.clean",
    "detect_language": "pipeline.text.language", "normalise_tokens": "pipeline.text.normalize",
})
