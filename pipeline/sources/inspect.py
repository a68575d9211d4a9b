"""What a received or fetched file really is: a picture (Pillow, fully decoded), a clip or a
music track (ffprobe, and a decode of its start). Shared by the API's uploads and the sources
that fetch remote media."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from pipeline.render.stills import MAX_PIXELS
from pipeline.tools import ToolError, run

MAX_CLIP_SECONDS = 600.0
MIN_IMAGE_SIDE = 16
MAX_VIDEO_SIDE = 8192
PROBE_TIMEOUT = 30.0
DECODE_TIMEOUT = 60.0


class MediaRejected(ValueError):
    """The file is not media we can use; `code` and `message` say why and what to send."""

    def __init__(self, code: str, message: str, *, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status  # 503 when our own tools are missing, else the sender's fault


@dataclass(frozen=True)
class MediaTools:
    """The ffprobe and ffmpeg to inspect with (FFPROBE_BINARY, FFMPEG_BINARY)."""

    ffprobe: str = "ffprobe"
    ffmpeg: str = "ffmpeg"


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


# --- images (Pillow) ---------------------------------------------------------------------

def _damaged(what: str, exc: BaseException, accepts: str) -> MediaRejected:
    return MediaRejected("invalid_media", f"{what} is damaged or truncated ({exc}); {accepts}")


def check_image(path: Path, *, formats: tuple[str, ...], accepts: str,
                max_pixels: int = MAX_PIXELS) -> MediaCheck | None:
    """Check a picture fully (header, size, every pixel); None when it is no image of `formats`."""
    try:
        with Image.open(path, formats=list(formats)) as image:
            image_format, (width, height) = image.format or "", image.size
            # Judge the header before decoding: a small file may claim a giant canvas.
            if width * height > max_pixels:
                raise MediaRejected("invalid_media",
                               f"the image is {width}x{height}, more than "
                               f"{max_pixels // 1_000_000} megapixels; {accepts}")
            if min(width, height) < MIN_IMAGE_SIDE:
                raise MediaRejected("invalid_media",
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
        raise MediaRejected("invalid_media",
                       f"the image claims too many pixels (at most {max_pixels // 1_000_000} "
                       f"megapixels); {accepts}") from None
    except MediaRejected:
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
            raise MediaRejected("media_tools_unavailable",
                                f"{Path(argv[0]).name} is not installed on the server",
                                status=503) from None
        raise MediaRejected("unsupported_media",
                       f"the body is not a readable media file ({_tool_reason(exc, path)}); "
                       f"{accepts}") from None


def _ffprobe(path: Path, tools: MediaTools, accepts: str) -> dict[str, Any]:
    out = _run_tool([tools.ffprobe, "-v", "error", "-print_format", "json",
                     "-show_format", "-show_streams", str(path)], path, PROBE_TIMEOUT, accepts)
    try:
        data = json.loads(out)
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def _decodes(path: Path, tools: MediaTools, stream: str, accepts: str) -> None:
    """Decode the start of a stream, so a file ffmpeg cannot render is refused now."""
    _run_tool([tools.ffmpeg, "-nostdin", "-v", "error", "-xerror", "-i", str(path),
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


def check_video(path: Path, tools: MediaTools, *, accepts: str) -> MediaCheck:
    """A clip we can render: a known container, a video stream, 0 < duration ≤ 10 minutes."""
    data = _ffprobe(path, tools, accepts)
    suffixes = _VIDEO_SUFFIXES.get(_container(data))
    brand = str(((data.get("format") or {}).get("tags") or {}).get("major_brand", ""))
    if suffixes and brand.startswith("qt"):  # QuickTime, not MP4: name it .mov by default
        suffixes = (".mov", *(s for s in suffixes if s != ".mov"))
    videos = _real_streams(data, "video")
    if suffixes is None or not videos:
        kind = _container(data) or "unknown"
        raise MediaRejected("unsupported_media",
                       f"the body is {kind!r} media without a video we accept; {accepts}")
    duration = _duration(data)
    if not 0 < duration <= MAX_CLIP_SECONDS:
        raise MediaRejected("invalid_media",
                       f"the clip lasts {duration:.1f} s; clips must last more than 0 s and at "
                       f"most {MAX_CLIP_SECONDS:.0f} s")
    width, height = _displayed_size(videos[0])
    if not (0 < width <= MAX_VIDEO_SIDE and 0 < height <= MAX_VIDEO_SIDE):
        raise MediaRejected("invalid_media",
                       f"the clip is {width}x{height}; each side must be 1–{MAX_VIDEO_SIDE} "
                       "pixels")
    _decodes(path, tools, "v", accepts)
    return MediaCheck("clip", suffixes, width, height, round(duration, 3),
                      audio=bool(_real_streams(data, "audio")))


def check_audio(path: Path, tools: MediaTools, *, min_seconds: float,
                accepts: str) -> MediaCheck:
    """A music track: a known audio format with an audio stream of at least `min_seconds`."""
    data = _ffprobe(path, tools, accepts)
    suffixes = _AUDIO_SUFFIXES.get(_container(data))
    if suffixes is None or not _real_streams(data, "audio") or _real_streams(data, "video"):
        kind = _container(data) or "unknown"
        raise MediaRejected("unsupported_media",
                       f"the body is {kind!r} media, not an audio file we accept; {accepts}")
    duration = _duration(data)
    if duration < min_seconds:
        raise MediaRejected("invalid_media",
                       f"the track lasts {duration:.1f} s; it needs at least {min_seconds:g} s")
    _decodes(path, tools, "a", accepts)
    return MediaCheck("audio", suffixes, duration=round(duration, 3), audio=True)
