"""Read a job's source into what the script stage works from.

Every type of source becomes an `IdeaSource`, a `ProductSource` or a `ScriptSource`; the
script stage never sees the shape a user sent.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from pipeline.sources.product import Product, ProductSource, product_from_fields
from pipeline.types import IdeaSource, Scene, Script, ScriptSource, StageError

NormalisedSource = IdeaSource | ProductSource | ScriptSource


class SourceReader(Protocol):
    """Turns one type of source (as the API stored it) into the script stage's input."""

    type: str

    def read(self, source: dict[str, Any], language: str | None) -> NormalisedSource:
        """Args:
            source: the job's source as submitted, already validated by the API.
            language: the job's language, or None to detect it.
        Returns:
            The normalised source.
        """


class IdeaReader:
    """`{"type": "idea", "idea": "…"}`."""

    type = "idea"

    def read(self, source: dict[str, Any], language: str | None) -> IdeaSource:
        """The idea text, its points and language."""
        return IdeaSource(idea=source["idea"], language=language,
                          points=tuple(source.get("points") or ()))


class ScriptReader:
    """`{"type": "script", "title", "scenes": [{"narration", "headline", "search_terms",
    "media"}], "call_to_action", "hashtags"}`: the user's own words. A scene's media are
    its visuals: the API lists every scene's uploads, in order, as the job's media."""

    type = "script"

    def read(self, source: dict[str, Any], language: str | None) -> ScriptSource:
        """The script as written (the language is the job's, detected from the narration)."""
        scenes, shown = [], 0
        for scene in source["scenes"]:
            count = len(scene.get("media") or ())
            scenes.append(Scene(narration=scene["narration"].strip(),
                                headline=(scene.get("headline") or "").strip(),
                                search_terms=tuple(scene.get("search_terms") or ()),
                                visuals=tuple(range(shown, shown + count))))
            shown += count
        title = (source.get("title") or "").strip() or scenes[0].headline
        hashtags = tuple(f"#{tag.lstrip('#')}" for tag in source.get("hashtags") or ())
        return ScriptSource(Script(title=title, scenes=tuple(scenes),
                                   call_to_action=(source.get("call_to_action") or "").strip(),
                                   hashtags=hashtags, language=language or "en"))


def _product(fields: dict[str, Any]) -> Product:
    try:
        return product_from_fields(fields)
    except StageError:
        raise
    except (TypeError, ValueError) as exc:
        raise StageError("script", "invalid_product", f"the product cannot be read: {exc}") \
            from None


class ProductReader:
    """`{"type": "product", "title", "description", "price", "images", …}`: one product."""

    type = "product"

    def read(self, source: dict[str, Any], language: str | None) -> ProductSource:
        """The product, its HTML description turned into clean text."""
        return ProductSource(products=(_product(source),), language=language)


def collection_item(item: Any) -> dict[str, Any]:
    """A collection item as product fields. The API stores a picture sent alone as a product
    named after its file; a bare upload id (written by hand) is an untitled item."""
    if isinstance(item, str):
        return {"title": "Item", "images": [item], "id": item}
    return dict(item)


class CollectionReader:
    """`{"type": "collection", "mode": "compilation", "items": […], "title"}`: one video with
    a numbered scene per item. (Mode "each" is a batch: each item is its own product job.)"""

    type = "collection"

    def read(self, source: dict[str, Any], language: str | None) -> ProductSource:
        """The items as products, in order."""
        products = tuple(_product(collection_item(item)) for item in source.get("items") or [])
        if not products:
            raise StageError("script", "invalid_product", "the collection has no items")
        return ProductSource(products=products, mode="compilation",
                             title=str(source.get("title") or "").strip(), language=language)


class ClipReader:
    """`{"type": "clip", "upload_id", "product": {…}, "keep_audio", "transcribe"}`: the clip is
    the picture; the product fields, when given, are what the voiceover says."""

    type = "clip"

    def read(self, source: dict[str, Any], language: str | None) -> NormalisedSource:
        """A product source from the clip's product fields (their images come after the clip)."""
        fields = source.get("product") or {}
        if not str(fields.get("title") or "").strip():
            # Only a transcribed clip may come without product fields: its own speech is used.
            return ProductSource(products=(Product(id=source["upload_id"], title=""),),
                                 language=language)
        # The clip is the picture: the product's own images are not shown over it.
        return ProductSource(products=(replace(_product(fields), images=()),),
                             language=language)


READERS: dict[str, SourceReader] = {
    reader.type: reader
    for reader in (IdeaReader(), ScriptReader(), ProductReader(), CollectionReader(),
                   ClipReader())
}


def read_source(source: dict[str, Any], language: str | None = None) -> NormalisedSource:
    """The normalised source of a job; a type without a reader fails the script stage."""
    reader = READERS.get(str(source.get("type")))
    if reader is None:
        raise StageError("script", "unsupported_source",
                         f"source type {source.get('type')!r} is not supported yet")
    return reader.read(source, language)
