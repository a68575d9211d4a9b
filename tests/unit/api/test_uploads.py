"""POST /v1/uploads and GET /v1/uploads/<id>: real pictures and clips, checked and stored."""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image

from api.app import create_app
from store.migrate import upgrade
from store.models import Upload
from store.services import Services, build_services
from store.settings import Settings
from tests.unit.api.conftest import Api, RecordingDispatcher, new_account

# --- media made for the tests (helpers shared with test_job_media and test_brand) -------

def image_bytes(size: tuple[int, int] = (64, 48), fmt: str = "PNG", *,
                noise: bool = False) -> bytes:
    """A real picture; `noise` makes it incompressible (and so large)."""
    if noise:
        picture = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        picture = Image.new("RGB", size, (200, 60, 30))
    out = io.BytesIO()
    picture.save(out, fmt)
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims a canvas of width × height (a decompression bomb)."""
    data = bytearray(image_bytes((16, 16), "PNG"))
    ihdr = 8 + 8  # signature, then length and type of the IHDR chunk
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr - 4:ihdr + 13]))
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly, failing the test if it fails."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=120)


def clip_bytes(folder: Path, *, seconds: float = 1.0, audio: bool = True,
               size: str = "64x64", rate: int = 30, rotate: int = 0) -> bytes:
    """A tiny H.264 MP4 test pattern, with a tone when `audio`, rotated as a phone would."""
    out = folder / f"clip-{seconds}-{audio}-{size}-{rate}.mp4"
    inputs = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}"]
    if audio:
        inputs += ["-f", "lavfi", "-i", "sine=f=440"]
    ffmpeg(*inputs, "-t", str(seconds), "-pix_fmt", "yuv420p", str(out))
    if rotate:  # ffmpeg 5 writes the display matrix only when remuxing
        rotated = out.with_name(f"rotated-{rotate}-{out.name}")
        ffmpeg("-i", str(out), "-c", "copy", "-metadata:s:v:0", f"rotate={rotate}", str(rotated))
        out = rotated
    return out.read_bytes()


def tone_bytes(folder: Path, *, seconds: float = 6.0, name: str = "tone.mp3") -> bytes:
    """A sine tone encoded by its name's ending (MP3, WAV, …)."""
    out = folder / name
    ffmpeg("-f", "lavfi", "-i", f"sine=f=440:d={seconds}", str(out))
    return out.read_bytes()


def post_upload(api: Api, data: bytes, filename: str | None = "clip.mp4", **kwargs: Any) -> Any:
    """POST raw bytes to /v1/uploads."""
    query = f"?filename={filename}" if filename is not None else ""
    return api.client.post(f"/v1/uploads{query}", data=data, headers=api.headers,
                           content_type="application/octet-stream", **kwargs)


def stored_files(media_root: Path) -> list[Path]:
    """Every file under uploads/ in media storage."""
    root = media_root / "uploads"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Clips and a tone made once for this module."""
    folder = tmp_path_factory.mktemp("clips")
    return {
        "clip": clip_bytes(folder),
        "silent": clip_bytes(folder, audio=False),
        "portrait": clip_bytes(folder, audio=False, size="64x32", rotate=90),
        "long": clip_bytes(folder, seconds=601, audio=False, size="16x16", rate=1),
        "tone": tone_bytes(folder),
        "gif": image_bytes((64, 64), "GIF"),
    }


# --- accepted uploads --------------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "filename", "stored", "content_type"), [
    ("PNG", "shot.png", "shot.png", "image/png"),
    ("JPEG", "photo.JPEG", "photo.jpeg", "image/jpeg"),
    ("WEBP", "pic.webp", "pic.webp", "image/webp"),
    ("PNG", "misnamed.mp4", "misnamed.png", "image/png"),
])
def test_picture_upload_is_stored_byte_for_byte(api: Api, services: Services, fmt: str,
                                                filename: str, stored: str,
                                                content_type: str) -> None:
    """A picture answers 201 with its meta and is stored unchanged under the account's folder."""
    data = image_bytes((64, 48), fmt)
    response = post_upload(api, data, filename)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["id"].startswith("upl_")
    assert body == {"id": body["id"], "kind": "still", "filename": stored,
                    "content_type": content_type, "bytes": len(data), "width": 64,
                    "height": 48, "duration": None, "audio": False,
                    "created": body["created"]}
    assert response.headers["Location"] == f"/v1/uploads/{body['id']}"
    folder = services.settings.media_root / "uploads" / api.account.account_id / body["id"]
    assert (folder / stored).read_bytes() == data
    with services.sessions() as session:  # the metadata is a database row, not a file
        row = session.get(Upload, body["id"])
        assert row is not None
        assert row.key == f"uploads/{api.account.account_id}/{body['id']}/{stored}"
        assert (row.account_id, row.kind, row.bytes) == (api.account.account_id, "still",
                                                         len(data))
    assert [p.name for p in folder.iterdir()] == [stored]
    assert api.get(response.headers["Location"]).json == body


def test_clip_upload_reports_its_duration_size_and_sound(api: Api, services: Services,
                                                         clips: dict[str, bytes]) -> None:
    """An MP4 clip is kind "clip" with ffprobe's duration, size and whether it has audio."""
    response = post_upload(api, clips["clip"], "clip.mp4")
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["kind"], body["width"], body["height"], body["audio"]) == ("clip", 64, 64, True)
    assert body["duration"] == pytest.approx(1.0, abs=0.1)
    assert (body["filename"], body["content_type"]) == ("clip.mp4", "video/mp4")
    stored = stored_files(services.settings.media_root)
    assert [p.name for p in stored] == ["clip.mp4"]
    assert stored[0].read_bytes() == clips["clip"]
    assert post_upload(api, clips["silent"]).json["audio"] is False


@pytest.mark.parametrize(("args", "filename", "stored", "content_type"), [
    (("-c:v", "libvpx-vp9", "-f", "webm"), "clip.webm", "clip.webm", "video/webm"),
    (("-c:v", "libvpx-vp9", "-f", "matroska"), "clip", "clip.mkv", "video/x-matroska"),
    (("-pix_fmt", "yuv420p", "-f", "mov"), "clip", "clip.mov", "video/quicktime"),
    (("-pix_fmt", "yuv420p", "-f", "mov"), "clip.mp4", "clip.mp4", "video/mp4"),
], ids=["webm", "mkv", "mov", "mov-named-mp4"])
def test_other_video_containers_are_clips(api: Api, tmp_path: Path, args: tuple[str, ...],
                                          filename: str, stored: str,
                                          content_type: str) -> None:
    """WebM, MKV and MOV clips are accepted and named after their container."""
    out = tmp_path / "clip.bin"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=30", "-t", "1", *args, str(out))
    response = post_upload(api, out.read_bytes(), filename)
    assert response.status_code == 201, response.json
    assert (response.json["kind"], response.json["filename"],
            response.json["content_type"]) == ("clip", stored, content_type)


def test_rotated_phone_clip_reports_its_displayed_size(api: Api,
                                                       clips: dict[str, bytes]) -> None:
    """A clip stored 64x32 with a 90° rotation is reported as the 32x64 it shows."""
    body = post_upload(api, clips["portrait"]).json
    assert (body["width"], body["height"]) == (32, 64)


def test_body_over_the_json_limit_is_accepted_as_an_upload(api: Api,
                                                           services: Services) -> None:
    """Uploads may exceed MAX_REQUEST_BYTES (64 KiB for JSON) up to MAX_UPLOAD_BYTES."""
    data = image_bytes((300, 300), "PNG", noise=True)
    assert len(data) > services.settings.max_request_bytes
    response = post_upload(api, data, "noise.png")
    assert response.status_code == 201, response.json
    assert response.json["bytes"] == len(data)
    assert api.create_job({"source": {"type": "idea", "idea": "x" * 70_000}}).status_code == 413


def test_path_traversal_in_filename_stays_in_the_upload_folder(api: Api,
                                                               services: Services) -> None:
    """`../../etc/passwd` becomes a plain name inside uploads/<account>/<id>/."""
    response = post_upload(api, image_bytes(), "../../etc/passwd")
    assert response.status_code == 201, response.json
    upload_id = response.json["id"]
    assert response.json["filename"] == "passwd.png"
    folder = services.settings.media_root / "uploads" / api.account.account_id / upload_id
    assert [p.relative_to(folder).as_posix() for p in stored_files(
        services.settings.media_root)] == ["passwd.png"]
    assert not (services.settings.media_root.parent / "etc").exists()


@pytest.mark.parametrize(("filename", "stored"), [
    (None, "upload.png"), ("..", "upload.png"), ("日本.png", "upload.png"),
    ("a/b\\c d.PNG", "c_d.png"), ("x" * 300 + ".png", "x" * 80 + ".png"),
])
def test_odd_filenames_become_safe_names(api: Api, filename: str | None, stored: str) -> None:
    """Missing, folder-like, non-ASCII and overlong names become short ASCII names."""
    response = post_upload(api, image_bytes(), filename)
    assert response.status_code == 201, response.json
    assert response.json["filename"] == stored


# --- refused uploads ---------------------------------------------------------------------

def _truncated_png() -> bytes:
    data = image_bytes((64, 64), "PNG", noise=True)
    return data[: len(data) // 2]


@pytest.mark.parametrize(("make", "status", "code", "says"), [
    (lambda c: b"just some text, not a picture\n" * 20, 422, "unsupported_media", "JPEG, PNG"),
    (lambda c: c["clip"][: len(c["clip"]) // 2], 422, "unsupported_media", "moov atom"),
    (lambda c: c["tone"], 422, "unsupported_media", "video"),
    (lambda c: c["long"], 422, "invalid_media", "600"),
    (lambda c: _truncated_png(), 422, "invalid_media", "truncated"),
    (lambda c: png_header(100_000, 100_000), 422, "invalid_media", "megapixels"),
    (lambda c: png_header(9_000, 9_000), 422, "invalid_media", "megapixels"),
    (lambda c: image_bytes((8, 8)), 422, "invalid_media", "at least 16"),
    (lambda c: b"", 400, "empty_body", "empty"),
    (lambda c: c["gif"], 422, "unsupported_media", "'gif'"),
], ids=["text", "truncated-mp4", "audio-only", "too-long", "truncated-png", "bomb",
        "too-many-pixels", "too-small", "empty", "gif"])
def test_bad_upload_is_refused_and_nothing_is_stored(api: Api, services: Services,
                                                     clips: dict[str, bytes], make: Any,
                                                     status: int, code: str, says: str) -> None:
    """Each bad body gets a clear JSON error and leaves no file in media storage."""
    response = post_upload(api, make(clips), "file.mp4")
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code
    assert says in response.json["error"]["message"]
    assert str(services.settings.media_root) not in response.json["error"]["message"]
    assert stored_files(services.settings.media_root) == []
    assert not any((services.settings.media_root / ".scratch").rglob("body"))


@pytest.fixture
def small_api(embedded_settings: Settings, dispatcher: RecordingDispatcher) -> Iterator[Api]:
    """An authorised client of an app whose MAX_UPLOAD_BYTES is 1000."""
    settings = dataclasses.replace(embedded_settings, max_upload_bytes=1000)
    upgrade(settings.database_url)
    svc = build_services(settings)
    app = create_app(services=svc, dispatcher=dispatcher)
    yield Api(app.test_client(), new_account(svc))
    svc.close()


def test_upload_over_max_upload_bytes_is_413(small_api: Api,
                                             embedded_settings: Settings) -> None:
    """A body over MAX_UPLOAD_BYTES gets a JSON 413 naming the limit, and nothing is stored."""
    response = post_upload(small_api, image_bytes((64, 64), noise=True))
    assert response.status_code == 413
    error = response.json["error"]
    assert error["code"] == "payload_too_large"
    assert "MAX_UPLOAD_BYTES (1000 bytes)" in error["message"]
    assert stored_files(embedded_settings.media_root) == []


def test_chunked_upload_over_the_limit_is_413(small_api: Api,
                                              embedded_settings: Settings) -> None:
    """A body without Content-Length is cut off at MAX_UPLOAD_BYTES too."""
    response = small_api.client.post(
        "/v1/uploads", input_stream=io.BytesIO(b"\0" * 5000),
        headers={**small_api.headers, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True})  # as waitress says of chunked bodies
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
    assert stored_files(embedded_settings.media_root) == []


# --- reading uploads back ----------------------------------------------------------------

def test_another_accounts_upload_is_not_found(api: Api, services: Services,
                                              client: FlaskClient) -> None:
    """GET on another account's upload is a 404, the same as a missing one."""
    upload_id = post_upload(api, image_bytes()).json["id"]
    other = Api(client, new_account(services, "other"))
    theirs = other.get(f"/v1/uploads/{upload_id}")
    missing = api.get("/v1/uploads/upl_000000000000000000000000")
    malformed = api.get("/v1/uploads/..%2F..%2Fmeta")
    assert theirs.status_code == missing.status_code == malformed.status_code == 404
    assert theirs.json["error"]["code"] == missing.json["error"]["code"] == "upload_not_found"


def test_uploads_need_an_api_key(client: FlaskClient, services: Services) -> None:
    """Without a key, uploading is 401 and nothing is stored."""
    response = client.post("/v1/uploads?filename=a.png", data=image_bytes())
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert stored_files(services.settings.media_root) == []
