"""The publish stage: a finished video goes to its destinations, which plug in as Publisher."""

from pipeline._exports import lazy_exports

__all__ = ["ExportFolderPublisher", "Publisher", "StoreExportPublisher"]
__getattr__ = lazy_exports(__name__, {
    "ExportFolderPublisher": "pipeline.publish.export", "Publisher": "pipeline.publish.export",
    "StoreExportPublisher": "pipeline.publish.export",
})
