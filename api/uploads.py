"""/v1/uploads: a user's pictures and clips, checked once and kept in media storage for jobs.

An upload is two files under `uploads/<account_id>/<upload_id>/`: the media itself and
`meta.json` (written last, so its presence means the upload is complete). No table: the
account id in the key is what makes another account's upload unreachable.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.utils import secure_filename

from api.auth import rate_limited, require_account
from api.context import db_session, services
from api.errors import ApiError
from pipeline.sources.feeds import FeedError, detect_format
from pipeline.sources.inspect import (
    CONTENT_TYPES,
    MAX_CLIP_SECONDS,
    MediaCheck,
    MediaRejected,
    MediaTools,
    check_image,
    check_video,
)
from store.models import Upload, new_id
from store.settings import Settings

bp = Blueprint("uploads", __name__, url_prefix="/v1/uploads")

CHUNK_BYTES = 1 << 20
UPLOAD_ACCEPTS = ("send a JPEG, PNG or WebP image, or an MP4, MOV, WebM or MKV video of at "
                  f"most {int(MAX_CLIP_SECONDS // 60)} minutes")
_UPLOAD_ID = re.compile(r"upl_[0-9a-f]{24}")
_MAX_STEM = 80

# --- receiving ---------------------------------------------------------------------------

@contextmanager
def media_errors() -> Iterator[None]:
    """Answer a file the inspection rejected with its reason (422; 503 when tools are missing)."""
    try:
        yield
    except MediaRejected as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None


def media_tools(settings: Settings) -> MediaTools:
    """The ffprobe and ffmpeg this server inspects with."""
    return MediaTools(ffprobe=settings.ffprobe_binary, ffmpeg=settings.ffmpeg_binary)



def _too_large(limit: int, limit_name: str) -> ApiError:
    return ApiError(413, "payload_too_large",
                    f"the body is larger than {limit_name} ({limit} bytes); send a smaller file")


def receive_body(target: Path, limit: int, limit_name: str) -> int:
    """Stream the raw request body into `target` (never all in memory); return its size."""
    # The app-wide MAX_CONTENT_LENGTH is for JSON; this request may be bigger. Flask 3.1
    # reads the per-request limit when the stream is first opened, which is below.
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit, limit_name)  # refused before a byte is read
    written = 0
    try:
        with target.open("wb") as out:
            while chunk := request.stream.read(CHUNK_BYTES):
                written += len(chunk)
                if written > limit:  # a chunked body says no length up front
                    raise _too_large(limit, limit_name)
                out.write(chunk)
    except RequestEntityTooLarge:
        raise _too_large(limit, limit_name) from None
    except ClientDisconnected:
        raise ApiError(400, "incomplete_body",
                       "the body ended before Content-Length bytes arrived; send it again") \
            from None
    if written == 0:
        raise ApiError(400, "empty_body", "the body is empty; send the file's bytes as the body")
    return written


def stored_name(raw: str | None, check: MediaCheck, default_stem: str) -> str:
    """A safe file name (no folders, ASCII) whose ending fits the detected format."""
    base = re.split(r"[/\\]", raw or "")[-1]
    stem, suffix = os.path.splitext(base)
    safe_stem = secure_filename(stem)[:_MAX_STEM].strip("._") or default_stem
    suffix = suffix.lower()
    return safe_stem + (suffix if suffix in check.suffixes else check.suffixes[0])


_FEED_SUFFIXES = {"merchant_xml": ".xml", "merchant_tsv": ".tsv", "merchant_csv": ".csv",
                  "csv": ".csv", "shopify": ".json", "woocommerce": ".json"}


def _content_type(name: str) -> str:
    suffix = os.path.splitext(name)[1]
    feed_types = {".xml": "application/xml", ".tsv": "text/tab-separated-values",
                  ".csv": "text/csv", ".json": "application/json"}
    return CONTENT_TYPES.get(suffix) or feed_types[suffix]


def feed_check(body: Path) -> MediaCheck:
    """A feed upload: its format must be one we read (a generic CSV counts, with a mapping
    given later); the rows are read by the batch, not here."""
    with body.open("rb") as stream:
        head = stream.read(64 * 1024)
    try:
        found = detect_format(head)
    except FeedError:
        # Only UTF-8 text without NULs can be a CSV (the reader refuses anything else): a
        # binary file whose first "line" happens to hold a comma is no feed.
        try:
            decoded = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
        except UnicodeDecodeError:
            decoded = ""
        text = decoded.splitlines() if "\x00" not in decoded else []
        if not text or "," not in text[0] and ";" not in text[0] and "\t" not in text[0]:
            raise ApiError(422, "invalid_feed", "the file is no feed we read: send Google "
                           "Merchant XML, TSV or CSV, Shopify products.json, WooCommerce "
                           "product JSON, or a UTF-8 CSV with a header row") from None
        found = "csv"
    return MediaCheck("feed", (_FEED_SUFFIXES[found],))


# --- the routes --------------------------------------------------------------------------

def find_upload(account_id: str, upload_id: str) -> dict[str, Any] | None:
    """The meta of one of the account's finished uploads, or None."""
    if not _UPLOAD_ID.fullmatch(upload_id):
        return None
    row = db_session().get(Upload, upload_id)
    if row is None or row.account_id != account_id:
        return None
    return _meta(row) if services().media.exists(row.key) else None


def _meta(row: Upload) -> dict[str, Any]:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return {"id": row.id, "kind": row.kind, "filename": row.filename, "key": row.key,
            "content_type": row.content_type, "bytes": row.bytes, "width": row.width,
            "height": row.height, "duration": row.duration, "audio": row.audio,
            "created": created.isoformat().replace("+00:00", "Z")}


def upload_public(meta: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of an upload (its storage key stays private)."""
    return {name: meta.get(name) for name in ("id", "kind", "filename", "content_type", "bytes",
                                              "width", "height", "duration", "audio", "created")}


@bp.post("")
@require_account
@rate_limited("uploads")
def create_upload() -> ResponseReturnValue:
    """Receive a picture or clip as the raw body, check it, store it; answer 201 with its meta."""
    svc = services()
    kind = request.args.get("kind", "media")
    if kind not in ("media", "feed"):
        raise ApiError(422, "invalid_field", "kind: media (a picture or clip, the default) or "
                       "feed (a product feed for POST /v1/batches)", "kind")
    upload_id = new_id("upl")
    folder = svc.media.scratch_dir("uploads", upload_id)
    try:
        body = folder / "body"  # no ending: ffprobe must judge the content, not the name
        if kind == "feed":
            size = receive_body(body, svc.settings.max_feed_bytes, "MAX_FEED_BYTES")
            check = feed_check(body)
        else:
            size = receive_body(body, svc.settings.max_upload_bytes, "MAX_UPLOAD_BYTES")
            with media_errors():
                check = (check_image(body, formats=("JPEG", "PNG", "WEBP"),
                                     accepts=UPLOAD_ACCEPTS)
                         or check_video(body, media_tools(svc.settings),
                                        accepts=UPLOAD_ACCEPTS))
        name = stored_name(request.args.get("filename"), check, "upload")
        row = Upload(id=upload_id, account_id=g.account.id, kind=check.kind, filename=name,
                     key=f"uploads/{g.account.id}/{upload_id}/{name}",
                     content_type=_content_type(name), bytes=size,
                     width=check.width, height=check.height, duration=check.duration,
                     audio=check.audio, created_at=datetime.now(UTC))
        # Bytes first, row second: a row always points at a whole object.
        svc.media.put_file(row.key, body)
    finally:
        svc.media.discard_scratch(folder)
    session = db_session()
    session.add(row)
    session.commit()
    location = url_for("uploads.get_upload", upload_id=upload_id)
    return jsonify(upload_public(_meta(row))), 201, {"Location": location}


@bp.get("/<upload_id>")
@require_account
def get_upload(upload_id: str) -> ResponseReturnValue:
    """One of the account's uploads; another account's is a 404 like a missing one."""
    meta = find_upload(g.account.id, upload_id)
    if meta is None:
        raise ApiError(404, "upload_not_found", f"no upload {upload_id!r}")
    return jsonify(upload_public(meta))
