"""What POST /v1/jobs (and batches) check of a source before a job is written.

Nothing remote is fetched here: URLs are checked for shape only, and the script stage fetches
them through the safe fetcher. Upload ids are resolved now, so that a job never points at
another account's file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask import g
from pydantic import ValidationError

from api.errors import ApiError
from api.schemas import (
    MAX_COLLECTION_ITEMS,
    ClipSourceIn,
    CollectionSourceIn,
    IdeaSourceIn,
    MediaItemIn,
    ProductFieldsIn,
    ProductSourceIn,
    ScriptSourceIn,
    validation_error,
)
from api.uploads import find_upload
from pipeline.text.clean import clean_text, has_words

AnySourceIn = (IdeaSourceIn | ScriptSourceIn | ProductSourceIn | ClipSourceIn
               | CollectionSourceIn)


@dataclass
class CheckedSource:
    """A source that passed: its stored form, the text it is about, and what it adds to the
    job's options (uploads resolved to media keys, the clip to show)."""

    stored: dict[str, Any]
    text: str  # what the language is detected from and the project is named after
    options: dict[str, Any] = field(default_factory=dict)


def _invalid(field_name: str, message: str, code: str = "invalid_field") -> ApiError:
    return ApiError(422, code, f"{field_name}: {message}", field_name)


_KIND_NAMES = {"still": "a picture", "clip": "a video clip"}


def _upload(upload_id: str, field_name: str, *kinds: str) -> dict[str, Any]:
    """The account's upload of one of `kinds`, or a 422 naming the field."""
    meta = find_upload(g.account.id, upload_id)
    if meta is None:
        raise _invalid(field_name, f"no upload {upload_id!r}; upload the file with "
                       "POST /v1/uploads and send the id it answers", "unknown_upload")
    if meta["kind"] not in kinds:
        wanted = " or ".join(_KIND_NAMES[kind] for kind in kinds)
        raise _invalid(field_name, f"upload {upload_id} is a {meta['kind']}; send {wanted}")
    return meta


def media_items(items: list[MediaItemIn]) -> list[dict[str, Any]]:
    """An idea's uploads to show, as media keys in the user's order; each must be this
    account's picture or clip."""
    media = []
    for i, item in enumerate(items):
        meta = _upload(item.upload_id, f"source.media.{i}.upload_id", "still", "clip")
        if item.keep_audio and not (meta["kind"] == "clip" and meta.get("audio")):
            what = "a picture" if meta["kind"] == "still" else "a clip without sound"
            raise _invalid(f"source.media.{i}.keep_audio", f"upload {item.upload_id} is "
                           f"{what}; send keep_audio: false")
        media.append({"key": meta["key"], "kind": meta["kind"], "keep_audio": item.keep_audio,
                      "duration": meta.get("duration")})
    return media


def is_http_url(text: str) -> bool:
    """Whether the text is an absolute http(s) URL with a host (its shape only: nothing is
    fetched, and the fetcher judges the address)."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - a malformed port raises only when read
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def is_upload_id(ref: str) -> bool:
    """Upload ids look like upl_…; anything else must be a URL."""
    return ref.startswith("upl_")


def _image_keys(images: list[str], prefix: str) -> dict[str, str]:
    """Upload ids among a product's images, resolved; URLs are checked for shape only."""
    keys = {}
    for i, ref in enumerate(images):
        name = f"{prefix}.images.{i}"
        if is_upload_id(ref):
            keys[ref] = _upload(ref, name, "still")["key"]
            continue
        if not is_http_url(ref):
            raise _invalid(name, "must be an http(s) URL of a picture or an upload id (upl_…)")
    return keys


def _product(fields: ProductFieldsIn, prefix: str) -> dict[str, str]:
    if not has_words(clean_text(fields.title)):
        raise _invalid(f"{prefix}.title", "needs at least one word")
    if fields.sale_price is not None and fields.price is None:
        raise _invalid(f"{prefix}.sale_price",
                       f"needs {prefix}.price, the regular price it replaces")
    if fields.link and not is_http_url(fields.link):
        raise _invalid(f"{prefix}.link", "must be the product page's http(s) URL")
    return _image_keys(fields.images, prefix)


def _check_idea(source: IdeaSourceIn, max_chars: int) -> CheckedSource:
    idea = source.idea
    if not idea.strip():
        raise _invalid("source.idea", "must not be empty")
    if len(idea) > max_chars:
        raise _invalid("source.idea", f"at most {max_chars} characters (got {len(idea)})")
    if not has_words(clean_text(idea)):
        raise _invalid("source.idea", "needs at least one word (emoji and symbols are not "
                       "spoken)")
    if source.sale_price is not None and source.price is None:
        raise _invalid("source.sale_price", "needs source.price, the regular price it replaces")
    options: dict[str, Any] = {}
    if source.price is not None:
        options["price"] = {"price": source.price,
                            **({"sale_price": source.sale_price}
                               if source.sale_price is not None else {})}
    return CheckedSource(source.model_dump(exclude_none=True), idea, options)


def collection_items(source: CollectionSourceIn) -> list[ProductFieldsIn | str]:
    """Each item validated on its own: product fields, or an upload id (a picture)."""
    items: list[ProductFieldsIn | str] = []
    for i, item in enumerate(source.items):
        if isinstance(item, str):
            if not is_upload_id(item):
                raise _invalid(f"source.items.{i}", "must be product fields or an upload id "
                               "(upl_…) of a picture")
            items.append(item)
        elif isinstance(item, dict):
            try:
                items.append(ProductFieldsIn.model_validate(item))
            except ValidationError as exc:
                error = validation_error(exc)
                inner = error.field or ""
                raise _invalid(f"source.items.{i}.{inner}".rstrip("."),
                               error.message.split(": ", 1)[-1], error.code) from None
        else:
            raise _invalid(f"source.items.{i}", "must be product fields or an upload id")
    return items


def _title_of(filename: str) -> str:
    """A picture's file name as a product title: "blue-lamp_2.jpg" is "blue lamp 2"."""
    return re.sub(r"[\s_.-]+", " ", filename.rsplit(".", 1)[0]).strip() or "Item"


def checked_collection(source: CollectionSourceIn) -> tuple[dict[str, Any], dict[str, str]]:
    """A collection's stored form and its uploads resolved to media keys. An upload id alone
    becomes a product shown by that picture and named after its file."""
    items = collection_items(source)
    keys: dict[str, str] = {}
    stored: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            meta = _upload(item, f"source.items.{i}", "still")
            keys[item] = meta["key"]
            stored.append({"title": _title_of(meta["filename"]), "images": [item], "id": item})
        else:
            keys.update(_product(item, f"source.items.{i}"))
            stored.append(item.model_dump(exclude_none=True))
    return ({"type": "collection", "mode": source.mode, "title": source.title, "items": stored},
            keys)


def _check_collection(source: CollectionSourceIn) -> CheckedSource:
    if source.mode == "each":
        raise _invalid("source.mode", "a collection made one video per item is a batch; send "
                       "it to POST /v1/batches, or use mode compilation for one video")
    if not 2 <= len(source.items) <= MAX_COLLECTION_ITEMS:
        raise _invalid("source.items", f"a compilation has 2 to {MAX_COLLECTION_ITEMS} items "
                       f"(got {len(source.items)})")
    stored, keys = checked_collection(source)
    titles = " ".join(item["title"] for item in stored["items"])
    return CheckedSource(stored, source.title or titles, {"image_keys": keys} if keys else {})


def _check_clip(source: ClipSourceIn) -> CheckedSource:
    meta = _upload(source.upload_id, "source.upload_id", "clip")
    for flag in ("keep_audio", "transcribe"):
        if getattr(source, flag) and not meta.get("audio"):
            raise _invalid(f"source.{flag}", f"upload {source.upload_id} has no sound; send "
                           f"{flag}: false")
    if source.product is None and not source.transcribe:
        raise _invalid("source.product", "needed to write the voiceover from (title, "
                       "description, price…); or send transcribe: true to keep the clip's "
                       "own speech", "missing_field")
    if source.product is not None:
        _product(source.product.model_copy(update={"images": []}), "source.product")
    options: dict[str, Any] = {
        "media": [{"key": meta["key"], "kind": "clip", "keep_audio": source.keep_audio,
                   "duration": meta.get("duration")}],
    }
    if source.transcribe:
        options["transcribe"] = True
    product = source.product
    text = f"{product.title} {product.description}" if product else ""
    return CheckedSource(source.model_dump(exclude_none=True), text, options)


def _check_script(source: ScriptSourceIn) -> CheckedSource:
    """A user's script: every scene must say something, and its media are this account's
    pictures and clips, listed in scene order as the job's media."""
    media = []
    for i, scene in enumerate(source.scenes):
        if not has_words(clean_text(scene.narration)):
            raise _invalid(f"source.scenes.{i}.narration", "needs at least one word (emoji "
                           "and symbols are not spoken)")
        for j, upload_id in enumerate(scene.media):
            meta = _upload(upload_id, f"source.scenes.{i}.media.{j}", "still", "clip")
            media.append({"key": meta["key"], "kind": meta["kind"], "keep_audio": False,
                          "duration": meta.get("duration")})
    text = " ".join([source.title, *(scene.narration for scene in source.scenes)]).strip()
    return CheckedSource(source.model_dump(exclude_none=True), text,
                         {"media": media} if media else {})


def check_source(source: AnySourceIn, max_idea_chars: int) -> CheckedSource:
    """Check a job's source for the account making the request (g.account)."""
    if isinstance(source, IdeaSourceIn):
        return _check_idea(source, max_idea_chars)
    if isinstance(source, ScriptSourceIn):
        return _check_script(source)
    if isinstance(source, ProductSourceIn):
        keys = _product(source, "source")
        return CheckedSource(source.model_dump(exclude_none=True),
                             f"{source.title} {source.description}",
                             {"image_keys": keys} if keys else {})
    if isinstance(source, CollectionSourceIn):
        return _check_collection(source)
    return _check_clip(source)
