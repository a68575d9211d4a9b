"""/v1/uploads: a user's pictures and clips, checked once and kept in media storage for jobs.

An upload is two files under `uploads/<account_id>/<upload_id>/`: the media itself and
`meta.json` (written last, so its presence means the upload is complete). No table: the
account id in the key is what makes another account's upload unreachable.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from PIL import Image, UnidentifiedImageError
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.utils import secure_filename

from api.auth import require_account
from api.context import db_session, services
from api.errors import ApiError
from pipeline.render.stills import MAX_PIXELS
from pipeline.tools import ToolError, run
from store.models import Upload, new_id
from store.settings import Settings

bp = Blueprint("uploads", __name__, url_prefix="/v1/uploads")

CHUNK_BYTES = 1 << 20
MAX_CLIP_SECONDS = 600.0
MIN_IMAGE_SIDE = 16
MAX_VIDEO_SIDE = 8192
PROBE_TIMEOUT = 30.0
DECODE_TIMEOUT = 60.0
UPLOAD_ACCEPTS = ("send a JPEG, PNG or WebP image, or an MP4, MOV, WebM or MKV video of at "
                  f"most {int(MAX_CLIP_SECONDS // 60)} minutes")
_UPLOAD_ID = re.compile(r"upl_[0-9a-f]{24}")
_MAX_STEM = 80

# Name endings a stored file may keep, per detected format; the first is used otherwise.
# The music bed is chosen by ending (pipeline.render.audio_mix.MUSIC_EXTENSIONS), so it matters.
_IMAGE_SUFFIXES = {"JPEG": (".jpg", ".jpeg"), "MPO": (".jpg", ".jpeg"), "PNG": (".png",),
                   "WEBP": (".webp",)}
_VIDEO_SUFFIXES = {"mov": (".mp4", ".mov", ".m4v"), "matroska": (".mkv", ".webm")}
_AUDIO_SUFFIXES = {"mp3": (".mp3",), "mov": (".m4a",), "aac": (".aac",), "wav": (".wav",),
                   "ogg": (".ogg", ".opus"), "flac": (".flac",)}
CONTENT_TYPES = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
    ".mkv": "video/x-matroska", ".webm": "video/webm", ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4", ".aac": "audio/aac", ".wav": "audio/wav", ".ogg": "audio/ogg",
    ".opus": "audio/ogg", ".flac": "audio/flac",
}


@dataclass(frozen=True)
class MediaCheck:
    """What a received file turned out to be."""

    kind: str  # "still", "clip" or "audio"
    suffixes: tuple[str, ...]
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    audio: bool = False


# --- receiving ---------------------------------------------------------------------------

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


# --- images (Pillow) ---------------------------------------------------------------------

def _damaged(what: str, exc: BaseException, accepts: str) -> ApiError:
    return ApiError(422, "invalid_media", f"{what} is damaged or truncated ({exc}); {accepts}")


def check_image(path: Path, *, formats: tuple[str, ...], accepts: str,
                max_pixels: int = MAX_PIXELS) -> MediaCheck | None:
    """Check a picture fully (header, size, every pixel); None when it is no image of `formats`."""
    try:
        with Image.open(path, formats=list(formats)) as image:
            image_format, (width, height) = image.format or "", image.size
            # Judge the header before decoding: a small file may claim a giant canvas.
            if width * height > max_pixels:
                raise ApiError(422, "invalid_media",
                               f"the image is {width}x{height}, more than "
                               f"{max_pixels // 1_000_000} megapixels; {accepts}")
            if min(width, height) < MIN_IMAGE_SIDE:
                raise ApiError(422, "invalid_media",
                               f"the image is {width}x{height}; each side needs at least "
                               f"{MIN_IMAGE_SIDE} pixels")
            image.verify()
        with Image.open(path, formats=list(formats)) as image:
            if image_format in ("JPEG", "MPO"):  # decoding at 1/8 still reads every block
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            image.load()
    except UnidentifiedImageError:
        return None
    except Image.DecompressionBombError:
        raise ApiError(422, "invalid_media",
                       f"the image claims too many pixels (at most {max_pixels // 1_000_000} "
                       f"megapixels); {accepts}") from None
    except ApiError:
        raise
    except Exception as exc:  # noqa: BLE001 - broken data raises OSError, SyntaxError, struct.error…
        raise _damaged("the image", exc, accepts) from None
    suffixes = _IMAGE_SUFFIXES.get(image_format)
    if suffixes is None:  # pragma: no cover - `formats` only names formats listed above
        return None
    return MediaCheck("still", suffixes, width, height)


# --- video and audio (ffprobe) -----------------------------------------------------------

def _tool_reason(exc: ToolError, path: Path) -> str:
    """The last lines of the tool's complaint, without our paths or its `[demuxer @ 0x…]`."""
    lines = []
    for line in exc.stderr_tail.splitlines():
        line = re.sub(r"^\[[^\]]* @ 0x[0-9a-f]+\] ", "", line.replace(f"{path}: ", ""))
        line = line.replace(str(path), "the file").strip()  # never show server paths
        if line and line not in lines:
            lines.append(line)
    reason = "; ".join(lines[-2:])
    return reason or ("timed out" if exc.returncode is None else f"exit {exc.returncode}")


def _run_tool(argv: list[str], path: Path, timeout: float, accepts: str) -> str:
    try:
        return run(argv, timeout=timeout)
    except ToolError as exc:
        if exc.returncode == 127:
            raise ApiError(503, "media_tools_unavailable",
                           f"{Path(argv[0]).name} is not installed on the server") from None
        raise ApiError(422, "unsupported_media",
                       f"the body is not a readable media file ({_tool_reason(exc, path)}); "
                       f"{accepts}") from None


def _ffprobe(path: Path, settings: Settings, accepts: str) -> dict[str, Any]:
    out = _run_tool([settings.ffprobe_binary, "-v", "error", "-print_format", "json",
                     "-show_format", "-show_streams", str(path)], path, PROBE_TIMEOUT, accepts)
    try:
        data = json.loads(out)
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def _decodes(path: Path, settings: Settings, stream: str, accepts: str) -> None:
    """Decode the start of a stream, so a file ffmpeg cannot render is refused now."""
    _run_tool([settings.ffmpeg_binary, "-nostdin", "-v", "error", "-xerror", "-i", str(path),
               "-map", f"0:{stream}:0", "-t", "1", "-f", "null", "-"],
              path, DECODE_TIMEOUT, accepts)


def _real_streams(data: dict[str, Any], codec_type: str) -> list[dict[str, Any]]:
    # Cover art in an MP3 or M4A shows up as a one-frame "video" stream: not a video.
    return [s for s in data.get("streams") or [] if s.get("codec_type") == codec_type
            and not (s.get("disposition") or {}).get("attached_pic")]


def _duration(data: dict[str, Any]) -> float:
    try:
        return float((data.get("format") or {}).get("duration") or 0.0)
    except ValueError:
        return 0.0


def _container(data: dict[str, Any]) -> str:
    return str((data.get("format") or {}).get("format_name") or "").split(",")[0]


def _displayed_size(stream: dict[str, Any]) -> tuple[int, int]:
    width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
    rotation = next((int(float(side.get("rotation") or 0))
                     for side in stream.get("side_data_list") or [] if "rotation" in side),
                    int(float((stream.get("tags") or {}).get("rotate") or 0)))
    return (height, width) if abs(rotation) % 180 == 90 else (width, height)  # phone portrait


def check_video(path: Path, settings: Settings, *, accepts: str) -> MediaCheck:
    """A clip we can render: a known container, a video stream, 0 < duration ≤ 10 minutes."""
    data = _ffprobe(path, settings, accepts)
    suffixes = _VIDEO_SUFFIXES.get(_container(data))
    brand = str(((data.get("format") or {}).get("tags") or {}).get("major_brand", ""))
    if suffixes and brand.startswith("qt"):  # QuickTime, not MP4: name it .mov by default
        suffixes = (".mov", *(s for s in suffixes if s != ".mov"))
    videos = _real_streams(data, "video")
    if suffixes is None or not videos:
        kind = _container(data) or "unknown"
        raise ApiError(422, "unsupported_media",
                       f"the body is {kind!r} media without a video we accept; {accepts}")
    duration = _duration(data)
    if not 0 < duration <= MAX_CLIP_SECONDS:
        raise ApiError(422, "invalid_media",
                       f"the clip lasts {duration:.1f} s; clips must last more than 0 s and at "
                       f"most {MAX_CLIP_SECONDS:.0f} s")
    width, height = _displayed_size(videos[0])
    if not (0 < width <= MAX_VIDEO_SIDE and 0 < height <= MAX_VIDEO_SIDE):
        raise ApiError(422, "invalid_media",
                       f"the clip is {width}x{height}; each side must be 1–{MAX_VIDEO_SIDE} "
                       "pixels")
    _decodes(path, settings, "v", accepts)
    return MediaCheck("clip", suffixes, width, height, round(duration, 3),
                      audio=bool(_real_streams(data, "audio")))


def check_audio(path: Path, settings: Settings, *, min_seconds: float,
                accepts: str) -> MediaCheck:
    """A music track: a known audio format with an audio stream of at least `min_seconds`."""
    data = _ffprobe(path, settings, accepts)
    suffixes = _AUDIO_SUFFIXES.get(_container(data))
    if suffixes is None or not _real_streams(data, "audio") or _real_streams(data, "video"):
        kind = _container(data) or "unknown"
        raise ApiError(422, "unsupported_media",
                       f"the body is {kind!r} media, not an audio file we accept; {accepts}")
    duration = _duration(data)
    if duration < min_seconds:
        raise ApiError(422, "invalid_media",
                       f"the track lasts {duration:.1f} s; it needs at least {min_seconds:g} s")
    _decodes(path, settings, "a", accepts)
    return MediaCheck("audio", suffixes, duration=round(duration, 3), audio=True)


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
def create_upload() -> ResponseReturnValue:
    """Receive a picture or clip as the raw body, check it, store it; answer 201 with its meta."""
    svc = services()
    upload_id = new_id("upl")
    folder = svc.media.scratch_dir("uploads", upload_id)
    try:
        body = folder / "body"  # no ending: ffprobe must judge the content, not the name
        size = receive_body(body, svc.settings.max_upload_bytes, "MAX_UPLOAD_BYTES")
        check = (check_image(body, formats=("JPEG", "PNG", "WEBP"), accepts=UPLOAD_ACCEPTS)
                 or check_video(body, svc.settings, accepts=UPLOAD_ACCEPTS))
        name = stored_name(request.args.get("filename"), check, "upload")
        row = Upload(id=upload_id, account_id=g.account.id, kind=check.kind, filename=name,
                     key=f"uploads/{g.account.id}/{upload_id}/{name}",
                     content_type=CONTENT_TYPES[os.path.splitext(name)[1]], bytes=size,
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
