"""Still images made to fill a frame of any shape: cropped around the subject, or letterboxed
over a blurred copy of themselves — never stretched."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageFilter, ImageOps

from pipeline.types import StageError

# Decoded pixels we accept (80 MP: a 10000 × 8000 photo). Checked on the header before any
# pixel is decoded, so a tiny file claiming a huge canvas costs nothing. We keep our own
# limit rather than lowering Image.MAX_IMAGE_PIXELS, a global the whole process shares.
MAX_PIXELS = 80_000_000
# "auto" crops when the shapes differ by at most this much (aspect ratio, relative), so
# cropping loses at most about a sixth of the picture; beyond that it letterboxes on blur.
CROP_TOLERANCE = 0.20
# The blurred backdrop is darkened so the sharp picture in front of it stands out.
BACKDROP_BRIGHTNESS = 0.55
# Saliency is measured on a copy this many pixels along its long side: enough to find a
# subject, cheap to compute, and coarse enough to average away sensor noise.
SALIENCY_SIDE = 256
# A window off-centre must hold this much more edge energy than the centred one to win, so
# evenly detailed pictures stay centred instead of drifting to an edge.
OFF_CENTRE_MARGIN = 1.05
MODES = ("auto", "crop", "blur")
_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}
_ORIENTATION_TAG = 0x0112
_SIDEWAYS = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def fill_frame(image: Path, width: int, height: int, out: Path, *, mode: str = "auto") -> Path:
    """Write `image` as exactly width × height without distortion (JPEG, or PNG by suffix)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, not {width}x{height}")
    file_format = _FORMATS.get(out.suffix.lower())
    if file_format is None:
        raise ValueError(f"{out.name}: write .jpg, .jpeg or .png")
    picture = _load(image, width, height)
    if mode == "auto":
        mode = "crop" if aspect_difference(picture.size, (width, height)) <= CROP_TOLERANCE \
            else "blur"
    framed = _crop(picture, width, height) if mode == "crop" else _blur(picture, width, height)
    _save_atomically(framed, out, file_format)
    return out


def aspect_difference(a: tuple[int, int], b: tuple[int, int]) -> float:
    """How much two sizes' aspect ratios differ, relative (0.2: one is 20 % wider)."""
    ratio_a, ratio_b = a[0] / a[1], b[0] / b[1]
    return max(ratio_a, ratio_b) / min(ratio_a, ratio_b) - 1


def _bad_image(image: Path, why: str) -> StageError:
    return StageError("render", "bad_image", f"{image.name}: {why}; use a JPEG, PNG or WebP "
                      "photo")


def _load(image: Path, width: int, height: int) -> Image.Image:
    """Decode, upright and convert to RGB (RGBA when it has transparency), or StageError."""
    try:
        with Image.open(image) as opened:
            pixels = opened.size[0] * opened.size[1]
            if pixels > MAX_PIXELS:
                raise _bad_image(image, f"{opened.size[0]}x{opened.size[1]} is more than "
                                 f"{MAX_PIXELS // 1_000_000} megapixels")
            # A JPEG can decode at 1/2, 1/4 or 1/8 size for almost nothing; ask for the
            # smallest that still covers the frame, in the file's own (unrotated) axes.
            orientation = opened.getexif().get(_ORIENTATION_TAG)
            need = (height, width) if orientation in _SIDEWAYS else (width, height)
            scale = max(need[0] / opened.size[0], need[1] / opened.size[1])
            opened.draft(None, (max(1, int(opened.size[0] * scale)),
                                max(1, int(opened.size[1] * scale))))
            opened.load()
            upright = ImageOps.exif_transpose(opened)
            return _to_srgb(upright)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard, reached only by headers far past our limit (or when the
        # caller's warning filters turn its warning into an error).
        raise _bad_image(image, "the image is too large to decode safely") from exc
    except FileNotFoundError as exc:
        raise _bad_image(image, "the file does not exist") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # Pillow reports unknown formats, truncation and corrupt data through all of these.
        raise _bad_image(image, f"not a readable image ({exc})") from exc


def _to_srgb(picture: Image.Image) -> Image.Image:
    """Plain 8-bit RGB, or RGBA when the picture has transparency, in sRGB colours."""
    if picture.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(picture, dtype=np.float32)
        if values.max(initial=0) > 255:  # 16-bit grey
            values = values / 257
        picture = Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))
    has_alpha = "A" in picture.mode or "a" in picture.mode or "transparency" in picture.info
    target = "RGBA" if has_alpha else "RGB"
    icc = picture.info.get("icc_profile")
    if icc and picture.mode in ("RGB", "RGBA", "CMYK"):
        # Phones save Display P3 and cameras Adobe RGB; shown as sRGB they look washed out.
        try:
            converted = ImageCms.profileToProfile(
                picture, io.BytesIO(icc), ImageCms.createProfile("sRGB"),
                outputMode="RGBA" if picture.mode == "RGBA" else "RGB")
            if converted is not None:
                picture = converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: its colours as they are beat no picture at all
    return picture if picture.mode == target else picture.convert(target)


def _cover_size(size: tuple[int, int], width: int, height: int) -> tuple[float, float]:
    """The window of `size` (in its pixels) that has the frame's shape and fills one axis."""
    scale = max(width / size[0], height / size[1])
    return min(size[0], width / scale), min(size[1], height / scale)


def _crop(picture: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover the frame and crop, keeping the most detailed part in view."""
    window_w, window_h = _cover_size(picture.size, width, height)
    left = _best_offset(picture, window_w / picture.size[0], axis=1) * picture.size[0]
    top = _best_offset(picture, window_h / picture.size[1], axis=0) * picture.size[1]
    box = (left, top, left + window_w, top + window_h)
    framed = picture.resize((width, height), Image.Resampling.LANCZOS, box=box,
                            reducing_gap=3.0)
    return _flatten(framed, Image.new("RGB", (width, height)))


def _best_offset(picture: Image.Image, fraction: float, *, axis: int) -> float:
    """Start (0–1 of the picture) of the window of `fraction` holding the most edge energy.

    axis=1 slides the window left–right, axis=0 top–bottom.
    """
    if fraction >= 1.0 - 1e-6:
        return 0.0
    profile = _edge_profile(picture, axis)
    n = len(profile)
    span = max(1, round(fraction * n))
    sums = np.convolve(profile, np.ones(span), mode="valid")  # energy of each window
    centre = (len(sums) - 1) // 2
    best = int(np.argmax(sums))
    if sums[best] <= OFF_CENTRE_MARGIN * sums[centre]:
        best = centre
    # Map the window start in profile cells back to the full picture, clamped so the
    # window never leaves it.
    return float(min(best / n, 1.0 - fraction))


def _edge_profile(picture: Image.Image, axis: int) -> np.ndarray:
    """Gradient magnitude (Sobel) of a small grey copy, summed across the other axis."""
    scale = SALIENCY_SIDE / max(picture.size)
    small = picture.convert("L")
    if scale < 1:
        small = small.resize((max(3, round(picture.size[0] * scale)),
                              max(3, round(picture.size[1] * scale))), Image.Resampling.BOX)
    grey = np.asarray(small, dtype=np.float32)
    across = 0 if axis == 1 else 1  # the array axis summed away
    if min(grey.shape) < 3:
        return np.ones(grey.shape[1 - across], np.float32)
    # Sobel on the interior; border cells copy their neighbours so the profile keeps its
    # length without inventing an edge where the picture stops.
    gx = (grey[:-2, 2:] + 2 * grey[1:-1, 2:] + grey[2:, 2:]
          - grey[:-2, :-2] - 2 * grey[1:-1, :-2] - grey[2:, :-2])
    gy = (grey[2:, :-2] + 2 * grey[2:, 1:-1] + grey[2:, 2:]
          - grey[:-2, :-2] - 2 * grey[:-2, 1:-1] - grey[:-2, 2:])
    magnitude = np.pad(np.hypot(gx, gy), 1, mode="edge")
    return magnitude.sum(axis=across)


def _blur(picture: Image.Image, width: int, height: int) -> Image.Image:
    """Fit the picture inside the frame over a blurred, darkened copy that covers it."""
    backdrop = _backdrop(picture, width, height)
    scale = min(width / picture.size[0], height / picture.size[1])
    size = (max(1, round(picture.size[0] * scale)), max(1, round(picture.size[1] * scale)))
    front = picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    backdrop.paste(_flatten(front, backdrop.crop(_centred(size, width, height))),
                   _centred(size, width, height)[:2])
    return backdrop


def _backdrop(picture: Image.Image, width: int, height: int) -> Image.Image:
    """A heavily blurred, darkened copy of the picture that covers the frame."""
    window_w, window_h = _cover_size(picture.size, width, height)
    left, top = (picture.size[0] - window_w) / 2, (picture.size[1] - window_h) / 2
    # Blurring a copy 1/16 of the frame and scaling it up is as smooth as blurring the
    # frame itself, and hundreds of times cheaper.
    small = (max(4, width // 16), max(4, height // 16))
    shrinking = window_w >= small[0]
    tiny = picture.resize(
        small, Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR,
        box=(left, top, left + window_w, top + window_h))
    tiny = _flatten(tiny, Image.new("RGB", small)).filter(ImageFilter.GaussianBlur(max(small) / 40))
    tiny = tiny.point(lambda v: round(v * BACKDROP_BRIGHTNESS))
    return tiny.resize((width, height), Image.Resampling.BICUBIC)


def _centred(size: tuple[int, int], width: int, height: int) -> tuple[int, int, int, int]:
    left, top = (width - size[0]) // 2, (height - size[1]) // 2
    return left, top, left + size[0], top + size[1]


def _flatten(picture: Image.Image, behind: Image.Image) -> Image.Image:
    """Composite a transparent picture onto `behind` (same size); RGB passes through."""
    if picture.mode != "RGBA":
        return picture
    flat = behind.convert("RGB")
    flat.paste(picture, (0, 0), picture)
    return flat


def _save_atomically(picture: Image.Image, out: Path, file_format: str) -> None:
    """Write under a temporary name in the same folder, then rename over `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as stream:
            if file_format == "JPEG":
                picture.save(stream, "JPEG", quality=92)
            else:
                picture.save(stream, "PNG")
        os.replace(temp, out)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
