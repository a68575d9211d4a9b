"""A profile's look: brand colours and font, logo watermark, music bed, and job snapshots."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image

from pipeline.render.audio_mix import pick_music
from store.models import Job, Profile
from store.services import Services
from tests.unit.api.conftest import Api, new_account
from tests.unit.api.test_uploads import clip_bytes, image_bytes, png_header, tone_bytes

IDEA = "Why our cold brew kit makes smoother coffee"


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Tracks and a clip made once for this module."""
    folder = tmp_path_factory.mktemp("audio")
    return {"mp3": tone_bytes(folder, seconds=6, name="six.mp3"),
            "mp3-long": tone_bytes(folder, seconds=7, name="seven.mp3"),
            "wav": tone_bytes(folder, seconds=5.5, name="wav.wav"),
            "short": tone_bytes(folder, seconds=2, name="short.mp3"),
            "clip": clip_bytes(folder)}


def _patch(api: Api, body: Any, profile_id: str | None = None) -> Any:
    return api.client.patch(f"/v1/profiles/{profile_id or api.account.profile_id}", json=body,
                            headers=api.headers)


def _put_logo(api: Api, data: bytes, profile_id: str | None = None) -> Any:
    return api.client.put(f"/v1/profiles/{profile_id or api.account.profile_id}/logo",
                          data=data, headers=api.headers, content_type="image/png")


def _post_music(api: Api, data: bytes, filename: str = "song.mp3",
                profile_id: str | None = None) -> Any:
    return api.client.post(
        f"/v1/profiles/{profile_id or api.account.profile_id}/music?filename={filename}",
        data=data, headers=api.headers, content_type="audio/mpeg")


def _profile_dir(services: Services, api: Api) -> Path:
    return services.settings.media_root / "profiles" / api.account.profile_id


def _job_options(api: Api, services: Services) -> dict[str, Any]:
    response = api.create_job({"source": {"type": "idea", "idea": IDEA}})
    assert response.status_code == 202, response.json
    with services.sessions() as session:
        job = session.get(Job, response.json["id"])
        assert job is not None
        return dict(job.options)


# --- brand colours and font --------------------------------------------------------------

def test_new_profile_has_no_brand_logo_or_music(api: Api) -> None:
    """A fresh profile shows an empty brand, no logo and no music."""
    profile = api.get("/v1/profiles").json["profiles"][0]
    assert (profile["brand"], profile["logo"], profile["music"]) == ({}, False, [])


def test_brand_is_stored_as_hash_rrggbb_and_merged(api: Api, services: Services) -> None:
    """Colours are stored as upper-case #RRGGBB, and a second PATCH merges key by key."""
    first = _patch(api, {"brand": {"primary": "ff5e62", "font": "Noto Serif"}})
    assert first.status_code == 200, first.json
    assert first.json["brand"] == {"primary": "#FF5E62", "font": "Noto Serif"}
    second = _patch(api, {"brand": {"accent": "#00aa00", "primary": "#112233"}})
    assert second.json["brand"] == {"primary": "#112233", "font": "Noto Serif",
                                    "accent": "#00AA00"}
    with services.sessions() as session:
        profile = session.get(Profile, api.account.profile_id)
        assert profile is not None
        assert profile.settings["brand"] == second.json["brand"]
    assert _patch(api, {"voice": {"speed": 1.1}}).json["brand"] == second.json["brand"]


@pytest.mark.parametrize(("brand", "field"), [
    ({"primary": "red"}, "brand.primary"),
    ({"text": "#12345"}, "brand.text"),
    ({"font": ""}, "brand.font"),
    ({"font": "Noto Sans, Bold"}, "brand.font"),
    ({"font": "x" * 101}, "brand.font"),
    ({"logo": "profiles/other/logo.png"}, "brand.logo"),
])
def test_bad_brand_is_refused_and_changes_nothing(api: Api, brand: dict[str, Any],
                                                  field: str) -> None:
    """A bad colour, font or unknown brand key is a 422 naming the field."""
    _patch(api, {"brand": {"primary": "#000000"}})
    response = _patch(api, {"brand": brand})
    assert response.status_code == 422, response.json
    assert response.json["error"]["field"] == field
    assert field in response.json["error"]["message"]
    assert api.get("/v1/profiles").json["profiles"][0]["brand"] == {"primary": "#000000"}


# --- logo --------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_logo_is_stored_as_png(api: Api, services: Services, fmt: str) -> None:
    """A PNG or JPEG logo is stored as an RGBA PNG at profiles/<id>/logo.png."""
    response = _put_logo(api, image_bytes((120, 40), fmt))
    assert response.status_code == 200, response.json
    assert response.json["logo"] is True
    with Image.open(_profile_dir(services, api) / "logo.png") as logo:
        assert (logo.format, logo.mode, logo.size) == ("PNG", "RGBA", (120, 40))


def test_logo_keeps_its_transparency(api: Api, services: Services) -> None:
    """A transparent logo stays transparent: a watermark must not be a box."""
    picture = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    picture.putpixel((5, 5), (255, 0, 0, 255))
    out = io.BytesIO()
    picture.save(out, "PNG")
    assert _put_logo(api, out.getvalue()).status_code == 200
    with Image.open(_profile_dir(services, api) / "logo.png") as logo:
        assert logo.getpixel((0, 0))[3] == 0
        assert logo.getpixel((5, 5)) == (255, 0, 0, 255)


@pytest.mark.parametrize(("data", "status", "code"), [
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", 422, "unsupported_media"),
    (image_bytes((64, 64), "WEBP"), 422, "unsupported_media"),
    (image_bytes((64, 64), "PNG")[:100], 422, "invalid_media"),
    (png_header(5000, 5000), 422, "invalid_media"),
    (os.urandom(5 * 1024 * 1024 + 1), 413, "payload_too_large"),
    (b"", 400, "empty_body"),
], ids=["svg", "webp", "truncated", "over-16mp", "over-5mb", "empty"])
def test_bad_logo_is_refused_and_the_old_one_stays(api: Api, services: Services, data: bytes,
                                                   status: int, code: str) -> None:
    """A bad logo body is refused with a JSON error and the current logo is untouched."""
    good = image_bytes((64, 64), "PNG")
    assert _put_logo(api, good).status_code == 200
    before = (_profile_dir(services, api) / "logo.png").read_bytes()
    response = _put_logo(api, data)
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code
    assert (_profile_dir(services, api) / "logo.png").read_bytes() == before


def test_logo_delete_removes_it_and_repeating_is_harmless(api: Api, services: Services) -> None:
    """DELETE removes the logo file; a second DELETE still answers 200 with no logo."""
    assert _put_logo(api, image_bytes()).status_code == 200
    url = f"/v1/profiles/{api.account.profile_id}/logo"
    for _ in range(2):
        response = api.client.delete(url, headers=api.headers)
        assert response.status_code == 200, response.json
        assert response.json["logo"] is False
    assert not (_profile_dir(services, api) / "logo.png").exists()


# --- music -------------------------------------------------------------------------------

def test_music_upload_list_and_delete(api: Api, services: Services,
                                      audio: dict[str, bytes]) -> None:
    """Tracks are added (201 with the list), listed, stored unchanged and deleted by name."""
    response = _post_music(api, audio["mp3"], "Summer Song.mp3")
    assert response.status_code == 201, response.json
    assert response.json == {"music": ["Summer_Song.mp3"]}
    assert _post_music(api, audio["wav"], "beat.wav").json == {
        "music": ["Summer_Song.mp3", "beat.wav"]}
    music = _profile_dir(services, api) / "music"
    assert (music / "Summer_Song.mp3").read_bytes() == audio["mp3"]
    url = f"/v1/profiles/{api.account.profile_id}/music"
    assert api.get(url).json == {"music": ["Summer_Song.mp3", "beat.wav"]}
    assert api.get("/v1/profiles").json["profiles"][0]["music"] == ["Summer_Song.mp3",
                                                                    "beat.wav"]
    deleted = api.client.delete(f"{url}/beat.wav", headers=api.headers)
    assert deleted.status_code == 200, deleted.json
    assert deleted.json == {"music": ["Summer_Song.mp3"]}
    assert not (music / "beat.wav").exists()
    missing = api.client.delete(f"{url}/beat.wav", headers=api.headers)
    assert missing.status_code == 404
    assert missing.json["error"]["code"] == "music_not_found"


@pytest.mark.parametrize(("encoded", "stored"), [
    ("tone.m4a", "track.m4a"), ("tone.ogg", "track.ogg"), ("tone.flac", "track.flac"),
    ("tone.wav", "track.wav"), ("tone.aac", "track.aac"),
])
def test_music_formats_are_accepted(api: Api, tmp_path: Path, encoded: str,
                                    stored: str) -> None:
    """M4A, OGG, FLAC, WAV and AAC tracks are stored with the ending of their format."""
    data = tone_bytes(tmp_path, seconds=5.2, name=encoded)
    response = _post_music(api, data, "track")
    assert response.status_code == 201, response.json
    assert response.json == {"music": [stored]}


def test_music_name_gets_the_ending_of_its_format(api: Api, audio: dict[str, bytes]) -> None:
    """An MP3 sent as song.txt is stored as song.mp3, so the render's music picker sees it."""
    assert _post_music(api, audio["mp3"], "song.txt").json == {"music": ["song.mp3"]}


@pytest.mark.parametrize(("key", "status", "code"), [
    ("short", 422, "invalid_media"),
    ("clip", 422, "unsupported_media"),
    ("text", 422, "unsupported_media"),
    ("empty", 400, "empty_body"),
])
def test_bad_music_is_refused(api: Api, services: Services, audio: dict[str, bytes], key: str,
                              status: int, code: str) -> None:
    """Short tracks, videos, text and empty bodies are refused and nothing is stored."""
    data = {**audio, "text": b"la la la\n" * 50, "empty": b""}[key]
    response = _post_music(api, data)
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code
    assert api.get(f"/v1/profiles/{api.account.profile_id}/music").json == {"music": []}


def test_music_with_a_taken_name_is_409(api: Api, services: Services,
                                        audio: dict[str, bytes]) -> None:
    """A second track under the same name is refused, keeping the first one."""
    assert _post_music(api, audio["mp3"], "song.mp3").status_code == 201
    response = _post_music(api, audio["mp3-long"], "song.mp3")
    assert response.status_code == 409
    assert (response.json["error"]["code"], response.json["error"]["field"]) == (
        "music_exists", "filename")
    assert (_profile_dir(services, api) / "music" / "song.mp3").read_bytes() == audio["mp3"]


def test_another_accounts_profile_files_are_not_found(api: Api, services: Services,
                                                      client: FlaskClient,
                                                      audio: dict[str, bytes]) -> None:
    """Logo and music routes on another account's profile answer 404 and store nothing."""
    other = Api(client, new_account(services, "other"))
    theirs = other.account.profile_id
    responses = [_put_logo(api, image_bytes(), theirs),
                 _post_music(api, audio["mp3"], profile_id=theirs),
                 api.get(f"/v1/profiles/{theirs}/music"),
                 api.client.delete(f"/v1/profiles/{theirs}/logo", headers=api.headers)]
    assert [r.status_code for r in responses] == [404] * 4
    assert {r.json["error"]["code"] for r in responses} == {"profile_not_found"}
    assert not (services.settings.media_root / "profiles" / theirs).exists()


# --- the job's snapshot ------------------------------------------------------------------

def test_job_snapshots_brand_logo_and_music_dir(api: Api, services: Services,
                                                audio: dict[str, bytes]) -> None:
    """A job stores the profile's colours and font plus the logo key and the music folder key."""
    _patch(api, {"brand": {"primary": "#102030", "accent": "#405060", "text": "#FFFFFF",
                           "font": "Noto Sans"}})
    assert _put_logo(api, image_bytes()).status_code == 200
    assert _post_music(api, audio["mp3"]).status_code == 201
    options = _job_options(api, services)
    profile_id = api.account.profile_id
    assert options["brand"] == {"primary": "#102030", "accent": "#405060", "text": "#FFFFFF",
                                "font": "Noto Sans", "logo": f"profiles/{profile_id}/logo.png",
                                "music_dir": f"profiles/{profile_id}/music"}
    # What the render stage does with these keys: the logo exists, the picker finds the song.
    assert services.media.exists(options["brand"]["logo"])
    picked = pick_music(services.media.list(options["brand"]["music_dir"]), "job")
    assert picked is not None and picked.endswith("/song.mp3")


def test_job_snapshot_leaves_out_what_the_profile_lacks(api: Api, services: Services) -> None:
    """Without brand settings, logo or music, the job has no brand; with colours only, no keys."""
    assert "brand" not in _job_options(api, services)
    _patch(api, {"brand": {"accent": "#ABCDEF"}})
    assert _job_options(api, services)["brand"] == {"accent": "#ABCDEF"}
    assert _put_logo(api, image_bytes()).status_code == 200
    api.client.delete(f"/v1/profiles/{api.account.profile_id}/logo", headers=api.headers)
    assert _job_options(api, services)["brand"] == {"accent": "#ABCDEF"}
