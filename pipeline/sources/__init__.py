"""The sources a video is made from, normalised before a script is written: an idea, a
product, a collection or a clip (readers plug in as SourceReader), product feeds of every
common format (pipeline.sources.feeds), and the one safe fetcher for remote content."""

from pipeline._exports import lazy_exports

__all__ = ["SourceReader", "read_source"]
__getattr__ = lazy_exports(__name__, {
    "SourceReader": "pipeline.sources.readers", "read_source": "pipeline.sources.readers",
})
