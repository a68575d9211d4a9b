"""POST /v1/jobs with product, clip and collection sources: what is checked, what is stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.api.conftest import Api
from tests.unit.api.test_job_media import _accepted, _key, _upload
from tests.unit.api.test_uploads import clip_bytes, image_bytes

MUG = {"type": "product", "title": "Acme Thermal Mug",
       "description": "<p>Keeps coffee hot for six hours &amp; more.</p>",
       "price": "20.00", "sale_price": "15.00", "currency": "USD", "brand": "Acme",
       "link": "https://shop.example.com/mug", "id": "mug-1",
       "images": ["https://cdn.example.com/mug.jpg"]}


def _refused(api: Api, source: dict[str, Any], field: str, code: str = "invalid_field") -> str:
    response = api.create_job({"source": source})
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert (error["code"], error["field"]) == (code, field), error
    assert error["message"].startswith(f"{field}:")
    return str(error["message"])


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("clips")
    return {"sound": clip_bytes(folder), "silent": clip_bytes(folder, audio=False)}


def test_a_product_is_stored_as_sent_with_its_uploads_resolved(api: Api) -> None:
    """The product's fields are the job's source; an image upload id becomes its media key
    now, a URL is left for the script stage to fetch; the project is named after the title."""
    photo = _upload(api, image_bytes((64, 48), "JPEG"), "mug.jpg")
    job = _accepted(api, {"source": {**MUG, "images": [*MUG["images"], photo["id"]]}})
    assert job.source["type"] == "product" and job.source["price"] == "20.00"
    assert job.source["images"] == [MUG["images"][0], photo["id"]]
    assert job.options["image_keys"] == {photo["id"]: _key(api, photo)}
    assert job.options["language"] == "en"
    services = api.client.application.extensions["videofactory"]["services"]
    with services.sessions() as session:
        from store.models import Project

        project = session.get(Project, job.project_id)
        assert project is not None and project.name.startswith("Acme Thermal Mug")


def test_a_german_product_is_voiced_in_german(api: Api) -> None:
    """The language comes from the product's own words."""
    job = _accepted(api, {"source": {
        "type": "product", "title": "Kaffeemühle Classic",
        "description": "Die Kaffeemühle mahlt deine Bohnen gleichmäßig und leise. Das "
                       "Mahlwerk aus Edelstahl hält viele Jahre."}})
    assert job.options["language"] == "de"


@pytest.mark.parametrize(("change", "field", "code"), [
    ({"images": ["https://cdn.example.com/a.jpg", "ftp://cdn.example.com/b.jpg"]},
     "source.images.1", "invalid_field"),
    ({"images": ["upl_000000000000000000000000"]}, "source.images.0", "unknown_upload"),
    ({"price": None, "sale_price": "15.00"}, "source.sale_price", "invalid_field"),
    ({"link": "javascript:alert(1)"}, "source.link", "invalid_field"),
    ({"title": "🎉🎉"}, "source.title", "invalid_field"),
    ({"price": "free"}, "source.price", "invalid_field"),
    ({"currency": "dollars"}, "source.currency", "invalid_field"),
    ({"colour": "red"}, "source.colour", "unknown_field"),
])
def test_a_bad_product_field_is_named(api: Api, change: dict[str, Any], field: str,
                                      code: str) -> None:
    """Each bad field answers 422 naming it as the user wrote it (source.x, never the
    union's branch)."""
    source = {k: v for k, v in {**MUG, **change}.items() if v is not None}
    _refused(api, source, field, code)


def test_a_missing_title_and_an_unknown_source_type_are_named(api: Api) -> None:
    """source.title is required; an unknown type lists the ones there are."""
    _refused(api, {k: v for k, v in MUG.items() if k != "title"}, "source.title",
             "missing_field")
    message = _refused(api, {"type": "podcast"}, "source.type")
    assert "product" in message and "collection" in message


def test_a_clip_upload_is_not_a_product_image(api: Api, clips: dict[str, bytes]) -> None:
    """An image slot takes pictures only."""
    video = _upload(api, clips["sound"], "demo.mp4")
    message = _refused(api, {**MUG, "images": [video["id"]]}, "source.images.0")
    assert "clip" in message


def test_a_clip_with_product_fields_is_stored_with_its_media(api: Api,
                                                              clips: dict[str, bytes]) -> None:
    """The clip becomes the job's media (with its length, so it plays on across scenes)."""
    video = _upload(api, clips["sound"], "demo.mp4")
    job = _accepted(api, {"source": {"type": "clip", "upload_id": video["id"],
                                     "keep_audio": True, "product": {"title": "Acme Mug"}}})
    assert job.options["media"] == [{"key": _key(api, video), "kind": "clip",
                                     "keep_audio": True, "duration": 1.0}]
    assert "transcribe" not in job.options
    transcribed = _accepted(api, {"source": {"type": "clip", "upload_id": video["id"],
                                             "transcribe": True}})
    assert transcribed.options["transcribe"] is True


def test_bad_clip_sources_are_named(api: Api, clips: dict[str, bytes]) -> None:
    """A picture as the clip, sound asked of a silent clip, nothing to say: each is a 422."""
    photo = _upload(api, image_bytes((64, 48), "JPEG"), "mug.jpg")
    silent = _upload(api, clips["silent"], "silent.mp4")
    sound = _upload(api, clips["sound"], "demo.mp4")
    product = {"title": "Acme Mug"}
    _refused(api, {"type": "clip", "upload_id": photo["id"], "product": product},
             "source.upload_id")
    _refused(api, {"type": "clip", "upload_id": silent["id"], "keep_audio": True,
                   "product": product}, "source.keep_audio")
    _refused(api, {"type": "clip", "upload_id": silent["id"], "transcribe": True},
             "source.transcribe")
    _refused(api, {"type": "clip", "upload_id": sound["id"]}, "source.product",
             "missing_field")


def test_a_compilation_is_one_job_with_its_items(api: Api) -> None:
    """Product objects and picture upload ids, in order; the uploads resolved now."""
    photo = _upload(api, image_bytes((64, 48), "JPEG"), "lamp.jpg")
    items = [{"title": "Lamp One", "price": "21.00"}, photo["id"],
             {"title": "Lamp Three", "images": ["https://cdn.example.com/3.jpg"]}]
    job = _accepted(api, {"source": {"type": "collection", "mode": "compilation",
                                     "title": "Top 3 lamps", "items": items}})
    # A picture alone is a product named after its file, shown by it.
    assert job.source["items"][1] == {"title": "lamp", "images": [photo["id"]],
                                      "id": photo["id"]}
    assert job.source["items"][0]["title"] == "Lamp One"
    assert job.options["image_keys"] == {photo["id"]: _key(api, photo)}


def test_bad_collections_are_named(api: Api) -> None:
    """Mode each belongs to batches; a compilation has 2–10 items, each checked alone."""
    two = [{"title": "A"}, {"title": "B"}]
    message = _refused(api, {"type": "collection", "mode": "each", "items": two},
                       "source.mode")
    assert "/v1/batches" in message
    _refused(api, {"type": "collection", "mode": "compilation", "items": two[:1]},
             "source.items")
    _refused(api, {"type": "collection", "mode": "compilation",
                   "items": [{"title": "A"}, {"price": "3.00"}]}, "source.items.1.title",
             "missing_field")
    _refused(api, {"type": "collection", "mode": "compilation",
                   "items": ["https://cdn.example.com/x.jpg", {"title": "B"}]},
             "source.items.0")


def test_the_profiles_call_to_action_reaches_its_product_jobs(api: Api) -> None:
    """PATCH sets it, GET shows it, a new job carries it for the script; "" clears it."""
    profiles = api.get("/v1/profiles").json["profiles"]
    profile_id = profiles[0]["id"]
    patched = api.client.patch(f"/v1/profiles/{profile_id}", headers=api.headers,
                               json={"call_to_action": "Tap the link in bio"})
    assert patched.status_code == 200 and patched.json["call_to_action"] == "Tap the link in bio"
    job = _accepted(api, {"source": MUG})
    assert job.options["call_to_action"] == "Tap the link in bio"
    cleared = api.client.patch(f"/v1/profiles/{profile_id}", headers=api.headers,
                               json={"call_to_action": ""})
    assert cleared.json["call_to_action"] is None
    assert "call_to_action" not in _accepted(api, {"source": MUG}).options


def test_malformed_urls_are_422s_not_500s(api: Api) -> None:
    """A URL that does not even parse (a broken IPv6 host, a bad port) is named, like any
    other bad field."""
    _refused(api, {**MUG, "link": "http://[::1/mug"}, "source.link")
    _refused(api, {**MUG, "images": ["http://cdn.example.com:99999/a.jpg"]}, "source.images.0")


def test_a_feed_upload_is_not_an_ideas_media(api: Api) -> None:
    """source.media takes pictures and clips; a feed upload is named as the wrong kind."""
    feed = api.client.post("/v1/uploads?kind=feed&filename=f.csv", headers=api.headers,
                           data=b"id,title,price\n1,Mug,3.00\n",
                           content_type="application/octet-stream")
    assert feed.status_code == 201, feed.json
    response = api.create_job({"source": {"type": "idea", "idea": "Our mugs",
                                          "media": [{"upload_id": feed.json["id"]}]}})
    assert response.status_code == 422
    assert response.json["error"]["field"] == "source.media.0.upload_id"
    assert "feed" in response.json["error"]["message"]
