"""POST /v1/jobs with uploads, prices and quality: what reaches job.options for the render."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from store.models import Job
from store.services import Services
from tests.unit.api.conftest import Api, new_account
from tests.unit.api.test_uploads import clip_bytes, image_bytes, post_upload

IDEA = "Why our cold brew kit makes smoother coffee"


def _body(**source: Any) -> dict[str, Any]:
    return {"source": {"type": "idea", "idea": IDEA, **source}, "preset": "tiktok"}


def _job(services: Services, job_id: str) -> Job:
    with services.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
        return job


def _jobs(services: Services) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(Job)) or 0


def _accepted(api: Api, body: dict[str, Any]) -> Job:
    """Submit a job and return its stored row."""
    response = api.create_job(body)
    assert response.status_code == 202, response.json
    services: Services = api.client.application.extensions["videofactory"]["services"]
    return _job(services, response.json["id"])


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A one-second MP4 with sound."""
    return clip_bytes(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="module")
def silent_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A one-second MP4 without sound."""
    return clip_bytes(tmp_path_factory.mktemp("silent"), audio=False)


def _upload(api: Api, data: bytes, filename: str) -> dict[str, Any]:
    response = post_upload(api, data, filename)
    assert response.status_code == 201, response.json
    return dict(response.json)


def _key(api: Api, upload: dict[str, Any]) -> str:
    return f"uploads/{api.account.account_id}/{upload['id']}/{upload['filename']}"


# --- what is stored ----------------------------------------------------------------------

def test_media_are_stored_as_keys_in_the_users_order(api: Api, services: Services,
                                                     clip: bytes) -> None:
    """Each upload becomes {key, kind, keep_audio, duration} in job.options["media"], in the
    order sent (a clip's duration lets a clip shown again play on)."""
    video = _upload(api, clip, "demo.mp4")
    photo = _upload(api, image_bytes((64, 48), "JPEG"), "kit.jpg")
    job = _accepted(api, _body(media=[
        {"upload_id": video["id"], "keep_audio": True},
        {"upload_id": photo["id"]},
        {"upload_id": video["id"], "keep_audio": False},
    ]))
    assert job.options["media"] == [
        {"key": _key(api, video), "kind": "clip", "keep_audio": True, "duration": 1.0},
        {"key": _key(api, photo), "kind": "still", "keep_audio": False, "duration": None},
        {"key": _key(api, video), "kind": "clip", "keep_audio": False, "duration": 1.0},
    ]
    # The worker resolves the same keys in media storage to the uploaded bytes.
    assert services.media.read_bytes(job.options["media"][0]["key"]) == clip
    assert job.source["media"][0] == {"upload_id": video["id"], "keep_audio": True}


def test_price_quality_and_sale_price_are_stored_exactly(api: Api) -> None:
    """price, sale_price and quality reach job.options exactly as sent."""
    job = _accepted(api, {**_body(price="$19.99", sale_price="$14.99"), "quality": "high"})
    assert job.options["price"] == {"price": "$19.99", "sale_price": "$14.99"}
    assert job.options["quality"] == "high"
    job = _accepted(api, {**_body(price="19,99 €"), "quality": "draft"})
    assert job.options["price"] == {"price": "19,99 €"}
    assert job.options["quality"] == "draft"


def test_plain_job_stores_no_media_price_quality_or_brand(api: Api) -> None:
    """Without the new fields the options are just language, voice and captions."""
    job = _accepted(api, _body())
    assert job.options == {"language": "en", "voice": {}, "captions": {}, "review": False,
                           "script": {}, "visuals": "auto"}
    assert job.source == {"type": "idea", "idea": IDEA}


def test_empty_media_list_stores_no_media(api: Api) -> None:
    """`"media": []` is the same as no media."""
    assert "media" not in _accepted(api, _body(media=[])).options


def test_profile_quality_is_used_unless_the_job_says_otherwise(api: Api) -> None:
    """A profile's quality applies to its jobs; the request's own quality wins."""
    patched = api.client.patch(f"/v1/profiles/{api.account.profile_id}",
                               json={"quality": "draft"}, headers=api.headers)
    assert patched.status_code == 200, patched.json
    assert patched.json["quality"] == "draft"
    assert _accepted(api, _body()).options["quality"] == "draft"
    assert _accepted(api, {**_body(), "quality": "standard"}).options["quality"] == "standard"


# --- what is refused ---------------------------------------------------------------------

def test_unknown_upload_is_422_naming_its_position(api: Api, services: Services) -> None:
    """An id that is not an upload of the account is refused with the item's field."""
    photo = _upload(api, image_bytes(), "kit.png")
    response = api.create_job(_body(media=[{"upload_id": photo["id"]},
                                           {"upload_id": "upl_000000000000000000000000"}]))
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert (error["code"], error["field"]) == ("unknown_upload", "source.media.1.upload_id")
    assert "source.media.1.upload_id" in error["message"]
    assert _jobs(services) == 0


def test_another_accounts_upload_is_unknown(api: Api, services: Services,
                                            client: FlaskClient) -> None:
    """Using another account's upload id is a 422 unknown_upload, never a 500 or a job."""
    other = Api(client, new_account(services, "other"))
    theirs = _upload(other, image_bytes(), "theirs.png")
    response = api.create_job(_body(media=[{"upload_id": theirs["id"]}]))
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "unknown_upload"
    assert response.json["error"]["field"] == "source.media.0.upload_id"
    assert _jobs(services) == 0


def test_keep_audio_needs_a_clip_with_sound(api: Api, silent_clip: bytes) -> None:
    """keep_audio on a picture or a silent clip is refused, naming keep_audio."""
    photo = _upload(api, image_bytes(), "kit.png")
    silent = _upload(api, silent_clip, "silent.mp4")
    for upload in (photo, silent):
        response = api.create_job(_body(media=[{"upload_id": upload["id"], "keep_audio": True}]))
        assert response.status_code == 422, response.json
        assert response.json["error"]["field"] == "source.media.0.keep_audio"


@pytest.mark.parametrize(("extra", "code", "field"), [
    ({"source": {"sale_price": "$14.99"}}, "invalid_field", "source.sale_price"),
    ({"source": {"price": "free"}}, "invalid_field", "source.price"),
    ({"source": {"price": ""}}, "invalid_field", "source.price"),
    ({"source": {"price": "$" + "9" * 20}}, "invalid_field", "source.price"),
    ({"source": {"price": "$19\n.99"}}, "invalid_field", "source.price"),
    ({"source": {"price": 19.99}}, "invalid_type", "source.price"),
    ({"source": {"price": "$1", "sale_price": "half"}}, "invalid_field", "source.sale_price"),
    ({"source": {"media": [{"upload_id": "upl_x"}] * 21}}, "invalid_field", "source.media"),
    ({"source": {"media": ["upl_x"]}}, "invalid_type", "source.media.0"),
    ({"source": {"media": [{"id": "upl_x"}]}}, "missing_field", "source.media.0.upload_id"),
    ({"source": {"media": [{"upload_id": "upl_x", "audio": True}]}}, "unknown_field",
     "source.media.0.audio"),
    ({"source": {"media": [{"upload_id": "upl_x", "keep_audio": "yes please"}]}},
     "invalid_field", "source.media.0.keep_audio"),
    ({"quality": "ultra"}, "invalid_field", "quality"),
])
def test_bad_media_price_and_quality_are_refused(api: Api, services: Services,
                                                 extra: dict[str, Any], code: str,
                                                 field: str) -> None:
    """Each bad field is a 422 with its code and a message naming the field; no job is made."""
    body = _body(**extra.get("source", {}))
    body.update({k: v for k, v in extra.items() if k != "source"})
    response = api.create_job(body)
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert field in error["message"]
    assert _jobs(services) == 0
