"""The sources a video is made from, normalised before a script is written. Readers plug in
as SourceReader; today there is the idea."""

from pipeline._exports import lazy_exports

__all__ = ["SourceReader", "read_source"]
__getattr__ = lazy_exports(__name__, {
    "SourceReader": "pipeline.sources.idea", "read_source": "pipeline.sources.idea",
})
