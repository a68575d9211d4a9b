"""GET /v1/profiles and PATCH /v1/profiles/<id>, and how profile defaults reach new jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from store.db import session_scope
from store.models import Job, Profile, new_id
from store.services import Services
from tests.unit.api.conftest import Api, new_account

IDEA = "Why cold brew tastes smoother"


def _body(idea: str = IDEA, **extra: Any) -> dict[str, Any]:
    return {"source": {"type": "idea", "idea": idea}, "preset": "tiktok", **extra}


def _patch(api: Api, profile_id: str, body: Any) -> Any:
    return api.client.patch(f"/v1/profiles/{profile_id}", json=body, headers=api.headers)


def _settings(services: Services, profile_id: str) -> dict[str, Any]:
    """The `settings` column of a stored profile."""
    with services.sessions() as session:
        profile = session.get(Profile, profile_id)
        assert profile is not None
        return dict(profile.settings or {})


def _job_options(api: Api, services: Services, body: dict[str, Any]) -> dict[str, Any]:
    """Submit a job and return its stored options."""
    response = api.create_job(body)
    assert response.status_code == 202, response.json
    with services.sessions() as session:
        job = session.get(Job, response.json["id"])
        assert job is not None
        return dict(job.options)


def _add_profile(services: Services, account_id: str, name: str,
                 created_at: datetime | None = None) -> str:
    with session_scope(services.sessions) as session:
        profile = Profile(id=new_id("prof"), account_id=account_id, name=name,
                          is_default=False, settings={},
                          created_at=created_at or datetime.now(UTC))
        session.add(profile)
    return profile.id


# --- GET /v1/profiles ----------------------------------------------------------------------

def test_new_account_lists_its_empty_default_profile(api: Api) -> None:
    """A fresh account has exactly one profile: its default, with no voice or caption settings."""
    response = api.get("/v1/profiles")
    assert response.status_code == 200
    assert response.json == {"profiles": [{
        "id": api.account.profile_id, "name": "Default", "is_default": True,
        "voice": {}, "captions": {}, "brand": {}, "quality": None, "preset": "tiktok",
        "music_volume_db": -12.0, "call_to_action": None, "logo": False,
        "music": [], "script": {}, "visuals": "auto", "review": False, "llm": {},
        "llm_api_key_set": False, "pexels_api_key_set": False, "pixabay_api_key_set": False,
        "hashtags": [], "publish": {"postiz": {"api_key_set": False},
                                    "webhook": {"secret_set": False}}}]}


def test_default_profile_is_listed_first(api: Api, services: Services) -> None:
    """The default profile comes first even when another profile is older."""
    older = _add_profile(services, api.account.account_id, "Older",
                         created_at=datetime(2000, 1, 1, tzinfo=UTC))
    newer = _add_profile(services, api.account.account_id, "Newer")
    ids = [p["id"] for p in api.get("/v1/profiles").json["profiles"]]
    assert ids == [api.account.profile_id, older, newer]


def test_profiles_of_other_accounts_are_not_listed(api: Api, services: Services,
                                                   client: FlaskClient) -> None:
    """Each account sees only its own profiles."""
    other = Api(client, new_account(services, "other"))
    _add_profile(services, other.account.account_id, "Theirs")
    ids = {p["id"] for p in api.get("/v1/profiles").json["profiles"]}
    assert ids == {api.account.profile_id}


# --- PATCH /v1/profiles/<id> ---------------------------------------------------------------

def test_patch_sets_voice_and_caption_defaults(api: Api, services: Services) -> None:
    """PATCH answers 200 with the merged profile and stores the settings on the row."""
    profile_id = api.account.profile_id
    response = _patch(api, profile_id, {"voice": {"speed": 1.2},
                                        "captions": {"highlight": "#FF0000", "uppercase": True}})
    assert response.status_code == 200, response.json
    assert response.json == {"id": profile_id, "name": "Default", "is_default": True,
                             "voice": {"speed": 1.2},
                             "captions": {"highlight": "#FF0000", "uppercase": True},
                             "brand": {}, "quality": None, "preset": "tiktok",
                             "music_volume_db": -12.0, "call_to_action": None,
                             "logo": False, "music": [], "script": {}, "visuals": "auto",
                             "review": False, "llm": {}, "llm_api_key_set": False,
                             "pexels_api_key_set": False, "pixabay_api_key_set": False,
                             "hashtags": [], "publish": {"postiz": {"api_key_set": False},
                                                         "webhook": {"secret_set": False}}}
    assert _settings(services, profile_id) == {
        "voice": {"speed": 1.2}, "captions": {"highlight": "#FF0000", "uppercase": True}}
    listed = api.get("/v1/profiles").json["profiles"][0]
    assert listed["voice"] == {"speed": 1.2}


def test_second_patch_merges_with_the_first(api: Api, services: Services) -> None:
    """A later PATCH adds and replaces keys but keeps the ones it does not mention."""
    profile_id = api.account.profile_id
    _patch(api, profile_id, {"voice": {"speed": 1.2, "sentence_pause": 0.3},
                             "captions": {"size": 80}})
    response = _patch(api, profile_id, {"voice": {"engine": "espeak", "sentence_pause": 0.6}})
    assert response.status_code == 200, response.json
    assert response.json["voice"] == {"speed": 1.2, "engine": "espeak", "sentence_pause": 0.6}
    assert response.json["captions"] == {"size": 80}
    assert _settings(services, profile_id)["voice"] == {"speed": 1.2, "engine": "espeak",
                                                        "sentence_pause": 0.6}


def test_patch_renames_without_touching_settings(api: Api, services: Services) -> None:
    """PATCH with only a name renames the profile and leaves its defaults alone."""
    profile_id = api.account.profile_id
    _patch(api, profile_id, {"voice": {"speed": 1.2}})
    response = _patch(api, profile_id, {"name": "Coffee Shop"})
    assert response.status_code == 200, response.json
    assert response.json["name"] == "Coffee Shop"
    assert response.json["voice"] == {"speed": 1.2}
    assert api.get("/v1/profiles").json["profiles"][0]["name"] == "Coffee Shop"


def test_another_accounts_profile_is_not_found(api: Api, services: Services,
                                               client: FlaskClient) -> None:
    """PATCHing another account's profile is 404 profile_not_found, like a missing one."""
    other = new_account(services, "other")
    theirs = _patch(api, other.profile_id, {"name": "Hijacked"})
    missing = _patch(api, "prof_doesnotexist", {"name": "Hijacked"})
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json["error"]["code"] == missing.json["error"]["code"] == "profile_not_found"
    with services.sessions() as session:
        profile = session.get(Profile, other.profile_id)
        assert profile is not None and profile.name == "Default"


BAD_PATCHES = [
    # (raw body or JSON, status, error.code, error.field or None)
    pytest.param(b'{"voice": ', 400, "invalid_json", None, id="malformed-json"),
    pytest.param(b"[1]", 400, "invalid_body", None, id="array-body"),
    pytest.param(b"", 400, "invalid_json", None, id="empty-body"),
    pytest.param({"voice": {"speed": 5}}, 422, "invalid_field", "voice.speed",
                 id="speed-out-of-range"),
    pytest.param({"voice": {"voice": "../x.onnx"}}, 422, "invalid_field", "voice.voice",
                 id="voice-path"),
    pytest.param({"voice": {"pitch": 2}}, 422, "unknown_field", "voice.pitch",
                 id="unknown-voice-key"),
    pytest.param({"captions": {"fill": "white"}}, 422, "invalid_field", "captions.fill",
                 id="fill-not-hex"),
    pytest.param({"is_default": False}, 422, "unknown_field", "is_default",
                 id="unknown-top-key"),
    pytest.param({"name": ""}, 422, "invalid_field", "name", id="empty-name"),
    pytest.param({"name": 5}, 422, "invalid_type", "name", id="name-number"),
]


@pytest.mark.parametrize(("body", "status", "code", "field"), BAD_PATCHES)
def test_bad_patch_is_rejected_and_changes_nothing(api: Api, services: Services, body: Any,
                                                   status: int, code: str,
                                                   field: str | None) -> None:
    """A bad PATCH body answers the JSON error naming the field and leaves the profile as it was."""
    profile_id = api.account.profile_id
    _patch(api, profile_id, {"voice": {"speed": 1.2}})
    url = f"/v1/profiles/{profile_id}"
    if isinstance(body, bytes):
        response = api.client.patch(url, data=body, headers=api.headers,
                                    content_type="application/json")
    else:
        response = api.client.patch(url, json=body, headers=api.headers)
    assert response.status_code == status, response.json
    error = response.json["error"]
    assert error["code"] == code
    assert error.get("field") == field
    if field is not None:
        assert field in error["message"]
    assert _settings(services, profile_id) == {"voice": {"speed": 1.2}}
    assert api.get("/v1/profiles").json["profiles"][0]["name"] == "Default"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer vf_notakey"},
                                     {"Authorization": "Basic dXNlcjpwYXNz"}],
                         ids=["no-header", "unknown-key", "wrong-scheme"])
def test_profiles_need_an_api_key(api: Api, client: FlaskClient,
                                  headers: dict[str, str]) -> None:
    """Without a valid key both GET and PATCH answer 401 unauthorized."""
    listing = client.get("/v1/profiles", headers=headers)
    patch = client.patch(f"/v1/profiles/{api.account.profile_id}", json={"name": "x"},
                         headers=headers)
    assert listing.status_code == patch.status_code == 401
    assert listing.json["error"]["code"] == patch.json["error"]["code"] == "unauthorized"


# --- profile defaults reach new jobs --------------------------------------------------------

def test_job_without_options_stores_the_profiles_defaults(api: Api, services: Services) -> None:
    """A job that sends no options stores the default profile's voice and caption settings."""
    _patch(api, api.account.profile_id,
           {"voice": {"speed": 1.2}, "captions": {"highlight": "#FF0000", "uppercase": True}})
    options = _job_options(api, services, _body())
    assert options == {"language": "en", "voice": {"speed": 1.2},
                       "captions": {"highlight": "#FF0000", "uppercase": True},
                       "review": False, "script": {}, "visuals": "auto"}


def test_request_options_merge_with_profile_key_by_key(api: Api, services: Services) -> None:
    """Request keys the profile lacks are added beside the profile's own."""
    _patch(api, api.account.profile_id,
           {"voice": {"speed": 1.2}, "captions": {"highlight": "#FF0000"}})
    options = _job_options(api, services, _body(voice={"sentence_pause": 0.5},
                                                captions={"size": 100}))
    assert options["voice"] == {"speed": 1.2, "sentence_pause": 0.5}
    assert options["captions"] == {"highlight": "#FF0000", "size": 100}


def test_request_option_wins_over_profile(api: Api, services: Services) -> None:
    """A key both set comes from the request: speed 0.8 beats the profile's 1.2."""
    _patch(api, api.account.profile_id,
           {"voice": {"speed": 1.2, "engine": "espeak"}, "captions": {"uppercase": True}})
    options = _job_options(api, services, _body(voice={"speed": 0.8},
                                                captions={"uppercase": False}))
    assert options["voice"] == {"speed": 0.8, "engine": "espeak"}
    assert options["captions"] == {"uppercase": False}
    assert _settings(services, api.account.profile_id)["voice"]["speed"] == 1.2


def test_chosen_profiles_defaults_are_used(api: Api, services: Services) -> None:
    """A job for a non-default profile takes that profile's defaults, not the default's."""
    second = _add_profile(services, api.account.account_id, "Second")
    _patch(api, api.account.profile_id, {"voice": {"speed": 1.2}})
    assert _patch(api, second, {"voice": {"speed": 0.7}}).status_code == 200
    options = _job_options(api, services, _body(profile_id=second))
    assert options["voice"] == {"speed": 0.7}


def test_profile_language_is_used_for_the_job(api: Api, services: Services) -> None:
    """A profile's voice.language is stored as the job's language instead of the detected one."""
    _patch(api, api.account.profile_id, {"voice": {"language": "de"}})
    assert _job_options(api, services, _body())["language"] == "de"


def test_profile_voice_of_another_language_is_refused_at_submission(api: Api,
                                                                    services: Services) -> None:
    """A profile's German voice makes an English job 422 voice_language_mismatch on voice.voice."""
    _patch(api, api.account.profile_id, {"voice": {"voice": "de_DE-thorsten-medium"}})
    response = api.create_job(_body())
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "voice_language_mismatch"
    assert response.json["error"]["field"] == "voice.voice"


def test_profiles_are_created_read_and_made_default(api: Api, services: Services) -> None:
    """POST makes a brand with the PATCH fields; the account keeps one default at all
    times, and a job without profile_id goes to whichever is the default now."""
    made = api.client.post("/v1/profiles", headers=api.headers, json={
        "name": "Second brand", "voice": {"speed": 1.1}, "call_to_action": "Shop now"})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert (body["name"], body["is_default"], body["voice"], body["call_to_action"]) == (
        "Second brand", False, {"speed": 1.1}, "Shop now")
    assert api.get(f"/v1/profiles/{body['id']}").get_json() == body
    assert api.client.post("/v1/profiles", headers=api.headers,
                           json={"voice": {}}).get_json()["error"]["field"] == "name"
    switched = api.client.post(f"/v1/profiles/{body['id']}/default", headers=api.headers)
    assert switched.status_code == 200 and switched.get_json()["is_default"] is True
    listed = api.get("/v1/profiles").get_json()["profiles"]
    assert [(p["id"], p["is_default"]) for p in listed] == [
        (body["id"], True), (api.account.profile_id, False)]
    job = api.create_job()
    assert job.get_json()["profile_id"] == body["id"]


def test_another_accounts_profile_is_not_found_by_id(api: Api, services: Services) -> None:
    other = new_account(services, "other")
    for answer in (api.get(f"/v1/profiles/{other.profile_id}"),
                   api.client.post(f"/v1/profiles/{other.profile_id}/default",
                                   headers=api.headers)):
        assert answer.status_code == 404
        assert set(answer.get_json()) == {"error"}


def test_profile_preset_and_music_volume_reach_new_jobs(api: Api, services: Services) -> None:
    patched = _patch(api, api.account.profile_id, {"preset": "square", "music_volume_db": -20})
    assert patched.status_code == 200, patched.json
    assert (patched.json["preset"], patched.json["music_volume_db"]) == ("square", -20)
    job = api.create_job({"source": {"type": "idea", "idea": IDEA}})
    assert job.status_code == 202
    with services.sessions() as session:
        stored = session.get(Job, job.json["id"])
        assert stored is not None
        assert (stored.preset, stored.options["music_volume_db"]) == ("square", -20)
    chosen = api.create_job(_body())  # the request's preset wins
    with services.sessions() as session:
        assert session.get(Job, chosen.json["id"]).preset == "tiktok"
    cleared = _patch(api, api.account.profile_id, {"preset": ""})
    assert cleared.json["preset"] == "tiktok" and "preset" not in _settings(
        services, api.account.profile_id)


@pytest.mark.parametrize("body, field", [({"preset": "cinema"}, "preset"),
                                         ({"music_volume_db": 3}, "music_volume_db"),
                                         ({"music_volume_db": -41}, "music_volume_db")])
def test_bad_preset_or_music_volume_is_422(api: Api, body: dict[str, Any], field: str) -> None:
    refused = _patch(api, api.account.profile_id, body)
    assert refused.status_code == 422 and refused.json["error"]["field"] == field
