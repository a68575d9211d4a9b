"""Media inspection without the API: pictures, clips and tracks accepted or rejected with a
code and a reason."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from pipeline.sources.inspect import (
    MediaRejected,
    MediaTools,
    check_audio,
    check_image,
    check_video,
)

ACCEPTS = "send something else"


def test_a_picture_is_a_still_with_its_size(tmp_path: Path) -> None:
    """A PNG is checked fully and described as a still with its size and endings."""
    path = tmp_path / "body"
    Image.new("RGB", (40, 30), (1, 2, 3)).save(path, format="PNG")
    check = check_image(path, formats=("PNG", "JPEG"), accepts=ACCEPTS)
    assert check is not None
    assert (check.kind, check.width, check.height, check.suffixes) == ("still", 40, 30, (".png",))


def test_a_giant_canvas_is_refused_before_decoding(tmp_path: Path) -> None:
    """A header claiming more pixels than allowed is invalid_media naming the megapixels."""
    path = tmp_path / "body"
    Image.new("L", (3000, 3000)).save(path, format="PNG")
    with pytest.raises(MediaRejected) as caught:
        check_image(path, formats=("PNG",), accepts=ACCEPTS, max_pixels=4_000_000)
    assert (caught.value.code, caught.value.status) == ("invalid_media", 422)
    assert "3000x3000" in caught.value.message and ACCEPTS in caught.value.message


def test_not_a_picture_is_none_and_not_a_clip_is_unsupported(tmp_path: Path) -> None:
    """Text is no image (None), and as a clip it is unsupported_media with the tool's reason."""
    path = tmp_path / "body"
    path.write_bytes(b"hello, this is not media")
    assert check_image(path, formats=("PNG",), accepts=ACCEPTS) is None
    with pytest.raises(MediaRejected) as caught:
        check_video(path, MediaTools(), accepts=ACCEPTS)
    assert caught.value.code == "unsupported_media"
    assert str(path) not in caught.value.message  # server paths never reach the sender


def test_a_clip_and_a_track_are_described(tmp_path: Path) -> None:
    """An MP4 with sound is a clip with its size and duration; a WAV is a track."""
    clip, track = tmp_path / "clip", tmp_path / "track"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30:d=1",
                    "-f", "lavfi", "-i", "sine=d=1", "-shortest", "-pix_fmt", "yuv420p", "-f",
                    "mp4", str(clip)], check=True, timeout=60)
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=d=3", "-f", "wav",
                    str(track)], check=True, timeout=60)
    video = check_video(clip, MediaTools(), accepts=ACCEPTS)
    assert (video.kind, video.width, video.height, video.audio) == ("clip", 64, 48, True)
    assert video.duration == pytest.approx(1.0, abs=0.1)
    audio = check_audio(track, MediaTools(), min_seconds=2, accepts=ACCEPTS)
    assert (audio.kind, audio.suffixes) == ("audio", (".wav",))
    with pytest.raises(MediaRejected) as short:
        check_audio(track, MediaTools(), min_seconds=5, accepts=ACCEPTS)
    assert short.value.code == "invalid_media" and "5 s" in short.value.message


def test_missing_tools_are_the_servers_fault(tmp_path: Path) -> None:
    """Without ffprobe the rejection is media_tools_unavailable with status 503."""
    path = tmp_path / "body"
    path.write_bytes(io.BytesIO(b"x" * 100).getvalue())
    with pytest.raises(MediaRejected) as caught:
        check_video(path, MediaTools(ffprobe=str(tmp_path / "no-ffprobe")), accepts=ACCEPTS)
    assert (caught.value.code, caught.value.status) == ("media_tools_unavailable", 503)
