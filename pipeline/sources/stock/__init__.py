"""Stock clips and stills for scenes, from Pexels and Pixabay: providers that search (they
never download), and `choose_stock`, which picks one asset per scene and downloads it through
the caller's downloader (the safe fetcher)."""

from pipeline._exports import lazy_exports

_MODULES = {
    "pipeline.sources.stock.types": ("Rendition", "SceneNeed", "SceneStock", "StockAsset",
                                     "StockError", "StockProvider", "orientation_of"),
    "pipeline.sources.stock.pexels": ("PexelsProvider",),
    "pipeline.sources.stock.pixabay": ("PixabayProvider",),
    "pipeline.sources.stock.choose": ("choose_stock", "pick_rendition"),
    "pipeline.sources.stock.credits": ("attribution", "credit_line"),
    "pipeline.sources.stock.registry": ("build_providers",),
}

__all__ = sorted(name for names in _MODULES.values() for name in names)
__getattr__ = lazy_exports(__name__, {name: module for module, names in _MODULES.items()
                                      for name in names})
