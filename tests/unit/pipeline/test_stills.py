"""Still images fill any frame: exact size, no distortion, subject kept, bad files refused."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipeline.render.stills import fill_frame
from pipeline.types import StageError

FRAME = (270, 480)  # a 9:16 frame, small so each test takes milliseconds


def _textured(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """A sharp, detailed picture: a colour gradient under a fine checkerboard and noise."""
    w, h = size
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, w)[None, :, None]
    y = np.linspace(0, 1, h)[:, None, None]
    base = 60 + 120 * np.concatenate([x + 0 * y, y + 0 * x, (1 - x) + 0 * y], axis=2)
    checker = ((np.arange(w)[None, :] // 4 + np.arange(h)[:, None] // 4) % 2)[:, :, None]
    pixels = base + 50 * checker + rng.normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _save(picture: Image.Image, path: Path, **params: object) -> Path:
    picture.save(path, **params)
    return path


def _grey(path: Path) -> np.ndarray:
    with Image.open(path) as opened:
        return np.asarray(opened.convert("L"), dtype=np.float64)


def _high_frequency(grey: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels."""
    return float(np.abs(np.diff(grey, axis=1)).mean() + np.abs(np.diff(grey, axis=0)).mean())


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width × height but holds almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("mode", ["auto", "crop", "blur"])
@pytest.mark.parametrize("size", [(900, 300), (300, 900), (400, 400), (50, 50), (270, 480)],
                         ids=["wide", "tall", "square", "tiny", "same"])
def test_output_has_exactly_the_frame_size(tmp_path: Path, size: tuple[int, int],
                                           mode: str) -> None:
    """Every input shape, in every mode, becomes an RGB JPEG of exactly the frame size."""
    source = _save(_textured(size), tmp_path / "in.png")
    out = fill_frame(source, *FRAME, tmp_path / "out.jpg", mode=mode)
    with Image.open(out) as result:
        assert (result.format, result.mode, result.size) == ("JPEG", "RGB", FRAME)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    """A photo stored sideways with EXIF orientation 6 comes out upright."""
    stored = Image.new("RGB", (480, 270), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 240, 270))  # stored left half: the visual top
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    source = _save(stored, tmp_path / "in.jpg", exif=exif, quality=95)
    with Image.open(fill_frame(source, *FRAME, tmp_path / "out.jpg")) as result:
        pixels = np.asarray(result, dtype=np.int32)
    assert result.size == FRAME
    top, bottom = pixels[40:200].mean(axis=(0, 1)), pixels[280:440].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 50
    assert bottom[2] > 200 and bottom[0] < 50


def test_blur_mode_keeps_the_picture_sharp_over_a_blurred_backdrop(tmp_path: Path) -> None:
    """In blur mode the middle reproduces the input and the bands around it are blurred."""
    picture = _textured((400, 400), seed=3)
    source = _save(picture, tmp_path / "in.png")
    grey = _grey(fill_frame(source, *FRAME, tmp_path / "out.jpg", mode="blur"))
    top = (FRAME[1] - FRAME[0]) // 2  # the square picture fits 270 × 270 in the middle
    middle = Image.fromarray(grey[top:top + FRAME[0]].astype(np.uint8)).resize((64, 64))
    expected = picture.convert("L").resize((64, 64))
    assert np.abs(np.asarray(middle, float) - np.asarray(expected, float)).mean() < 6
    band = grey[: top - 4]
    sharp = np.asarray(picture.convert("L").resize((FRAME[0], FRAME[0])), dtype=np.float64)
    assert _high_frequency(band) < 0.1 * _high_frequency(sharp)
    assert band.mean() < 0.8 * sharp.mean()  # darkened, so the picture stands out


def test_crop_mode_keeps_an_off_centre_subject_in_frame(tmp_path: Path) -> None:
    """A detailed red object in the left third of a plain 3:1 photo survives a 9:16 crop."""
    photo = Image.new("RGB", (900, 300))
    photo.putdata([(40 + x // 10, 60 + x // 12, 90) for _ in range(300) for x in range(900)])
    draw = ImageDraw.Draw(photo)
    draw.ellipse((100, 90, 220, 210), fill=(230, 20, 20))
    for stripe in range(100, 220, 12):  # texture: the most detailed spot of the photo
        draw.line((stripe, 90, stripe, 210), fill=(255, 255, 255), width=3)
    source = _save(photo, tmp_path / "in.png")
    with Image.open(fill_frame(source, *FRAME, tmp_path / "out.jpg", mode="crop")) as result:
        pixels = np.asarray(result, dtype=np.int32)
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    assert red.mean() > 0.05  # a centre crop (columns 366–534) would show none


def test_crop_mode_centres_an_evenly_detailed_picture(tmp_path: Path) -> None:
    """A picture with detail everywhere is cropped at its centre, not pushed to an edge."""
    picture = _textured((900, 300), seed=5)
    source = _save(picture, tmp_path / "in.png")
    grey = _grey(fill_frame(source, *FRAME, tmp_path / "out.jpg", mode="crop"))
    window = round(300 * FRAME[0] / FRAME[1])
    left = (900 - window) // 2
    centre = picture.convert("L").crop((left, 0, left + window, 300)).resize((32, 32))
    result = Image.fromarray(grey.astype(np.uint8)).resize((32, 32))
    assert np.abs(np.asarray(result, float) - np.asarray(centre, float)).mean() < 6


@pytest.mark.parametrize("mode", ["crop", "blur"])
@pytest.mark.parametrize("size", [(600, 300), (300, 600), (500, 500)])
def test_a_circle_stays_round(tmp_path: Path, size: tuple[int, int], mode: str) -> None:
    """A drawn circle keeps a 1:1 bounding box whatever the input and frame shapes."""
    photo = Image.new("L", size, 255)
    cx, cy, radius = size[0] // 2, size[1] // 2, min(size) // 4
    ImageDraw.Draw(photo).ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=0)
    source = _save(photo, tmp_path / "in.png")
    grey = _grey(fill_frame(source, *FRAME, tmp_path / "out.png", mode=mode))
    if mode == "blur":  # measure in the sharp picture, not in its blurred backdrop
        scale = min(FRAME[0] / size[0], FRAME[1] / size[1])
        w, h = round(size[0] * scale), round(size[1] * scale)
        grey = grey[(FRAME[1] - h) // 2 + 1:(FRAME[1] + h) // 2 - 1,
                    (FRAME[0] - w) // 2 + 1:(FRAME[0] + w) // 2 - 1]
    rows, cols = np.nonzero(grey < 100)
    height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
    assert width > 20
    assert abs(width / height - 1) < 0.06


def test_png_suffix_writes_png_and_flattens_transparency(tmp_path: Path) -> None:
    """An out path ending .png gives an RGB PNG; transparent pixels come out opaque."""
    picture = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    ImageDraw.Draw(picture).rectangle((100, 100, 200, 200), fill=(0, 255, 0, 255))
    source = _save(picture, tmp_path / "in.png")
    out = fill_frame(source, 300, 300, tmp_path / "out.png")
    with Image.open(out) as result:
        assert (result.format, result.mode, result.size) == ("PNG", "RGB", (300, 300))
        assert result.getpixel((150, 150)) == (0, 255, 0)
        assert result.getpixel((10, 10)) == (0, 0, 0)


@pytest.mark.parametrize("content", [b"", b"definitely not an image", "truncated"])
def test_unreadable_files_are_bad_images(tmp_path: Path, content: bytes | str) -> None:
    """Empty, garbage and truncated files raise StageError bad_image naming the file."""
    source = tmp_path / "holiday.jpg"
    if content == "truncated":
        whole = _save(_textured((400, 400)), tmp_path / "whole.jpg", quality=90).read_bytes()
        source.write_bytes(whole[: len(whole) // 2])
    else:
        assert isinstance(content, bytes)
        source.write_bytes(content)
    with pytest.raises(StageError) as caught:
        fill_frame(source, *FRAME, tmp_path / "out.jpg")
    assert (caught.value.stage, caught.value.code) == ("render", "bad_image")
    assert "holiday.jpg" in caught.value.message
    assert not (tmp_path / "out.jpg").exists()


def test_missing_file_is_a_bad_image(tmp_path: Path) -> None:
    """A path with no file behind it raises StageError bad_image naming it."""
    with pytest.raises(StageError, match="gone.png") as caught:
        fill_frame(tmp_path / "gone.png", *FRAME, tmp_path / "out.jpg")
    assert caught.value.code == "bad_image"


@pytest.mark.parametrize("size", [(9000, 9000), (10000, 9500), (30000, 30000)],
                         ids=["over-ours", "over-pillow-warning", "over-pillow-error"])
def test_decompression_bombs_are_refused(tmp_path: Path, size: tuple[int, int]) -> None:
    """A header claiming a huge canvas is refused as bad_image before decoding."""
    source = _png_header_only(tmp_path / "bomb.png", *size)
    with pytest.raises(StageError) as caught:
        fill_frame(source, *FRAME, tmp_path / "out.jpg")
    assert caught.value.code == "bad_image"
    assert "bomb.png" in caught.value.message


def test_no_temporary_files_are_left_behind(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Success, bad input and a failing write all leave only the finished file, if any."""
    source = _save(_textured((300, 300)), tmp_path / "in.png")
    out_dir = tmp_path / "out"
    fill_frame(source, *FRAME, out_dir / "good.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"junk")
    with pytest.raises(StageError):
        fill_frame(tmp_path / "bad.jpg", *FRAME, out_dir / "bad.jpg")

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        fill_frame(source, *FRAME, out_dir / "full.jpg")
    assert sorted(p.name for p in out_dir.iterdir()) == ["good.jpg"]


def test_unknown_mode_and_suffix_are_programming_errors(tmp_path: Path) -> None:
    """A mode or output suffix the module does not know raises ValueError, not StageError."""
    source = _save(_textured((100, 100)), tmp_path / "in.png")
    with pytest.raises(ValueError, match="mode"):
        fill_frame(source, *FRAME, tmp_path / "out.jpg", mode="stretch")
    with pytest.raises(ValueError, match="out.gif"):
        fill_frame(source, *FRAME, tmp_path / "out.gif")
