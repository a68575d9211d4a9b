"""Profiles' content settings (script generator and tone, visuals, review, their own LLM) and
secrets: sealed at rest, never answered, readable after a SECRET_KEY rotation; jobs refuse
a generator or visuals nothing is configured for, and take user scripts and idea points."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from api.app import create_app
from store.models import Job, Profile
from store.secrets import SecretBox, profile_secret
from store.services import Services
from store.settings import Settings
from tests.support.jobs import migrated_services
from tests.unit.api.conftest import Api, RecordingDispatcher, new_account

LLM_KEY = "sk-live-0123456789abcdef"
PEXELS_KEY = "pexels-abcdef-987654"


@pytest.fixture
def services(embedded_settings: Settings) -> Iterator[Services]:
    settings = replace(embedded_settings, secret_key="first-secret-key-for-the-tests-0123456789")
    with migrated_services(settings) as svc:
        yield svc


@pytest.fixture
def app(services: Services, dispatcher: RecordingDispatcher) -> Flask:
    return create_app(services=services, dispatcher=dispatcher)


def _patch(api: Api, body: dict[str, Any]) -> Any:
    return api.client.patch(f"/v1/profiles/{api.account.profile_id}", json=body,
                            headers=api.headers)


def _raw_profile_rows(services: Services) -> str:
    with services.sessions() as session:
        return " ".join(str(row) for row in session.execute(text("SELECT * FROM profiles")))


def test_secrets_are_write_only_and_sealed_at_rest(api: Api, services: Services) -> None:
    answer = _patch(api, {"llm": {"base_url": "https://llm.example.com/v1/",
                                  "model": "gpt-4o-mini", "api_key": LLM_KEY},
                          "pexels_api_key": PEXELS_KEY, "script": {"generator": "llm",
                                                                   "tone": "warm, witty"},
                          "visuals": "stock", "review": True})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["llm"] == {"base_url": "https://llm.example.com/v1", "model": "gpt-4o-mini"}
    assert (body["llm_api_key_set"], body["pexels_api_key_set"],
            body["pixabay_api_key_set"]) == (True, True, False)
    assert (body["script"], body["visuals"], body["review"]) == (
        {"generator": "llm", "tone": "warm, witty"}, "stock", True)
    listed = api.get("/v1/profiles").get_data(as_text=True)
    for secret in (LLM_KEY, PEXELS_KEY):
        assert secret not in answer.get_data(as_text=True) and secret not in listed
        assert secret not in _raw_profile_rows(services)  # the database holds no clear text
    with services.sessions() as session:
        stored = session.get(Profile, api.account.profile_id).settings
    box = SecretBox.from_settings(services.settings)
    assert profile_secret(box, stored, "llm_api_key") == LLM_KEY
    assert stored["secrets"]["pexels_api_key"].startswith("fernet:")
    # "" removes a secret; leaving it out keeps it.
    body = _patch(api, {"pexels_api_key": ""}).get_json()
    assert (body["llm_api_key_set"], body["pexels_api_key_set"]) == (True, False)


def test_secrets_stay_readable_after_a_key_rotation(api: Api, services: Services) -> None:
    _patch(api, {"llm": {"api_key": LLM_KEY}})
    with services.sessions() as session:
        stored = session.get(Profile, api.account.profile_id).settings
    old = services.settings.secret_key or ""
    rotated = SecretBox("a-brand-new-secret-key-after-rotation-42", [old])
    assert profile_secret(rotated, stored, "llm_api_key") == LLM_KEY
    resealed = rotated.reseal(stored["secrets"]["llm_api_key"])
    assert SecretBox("a-brand-new-secret-key-after-rotation-42").open(resealed) == LLM_KEY
    with pytest.raises(Exception, match="no configured key opens"):
        SecretBox("yet-another-key-without-the-old-one-000").open(
            stored["secrets"]["llm_api_key"])


def test_no_secret_key_refuses_to_store_secrets(client: FlaskClient, services: Services,
                                                embedded_settings: Settings,
                                                dispatcher: RecordingDispatcher) -> None:
    keyless = create_app(services=replace(services, settings=embedded_settings),
                         dispatcher=dispatcher).test_client()
    api = Api(keyless, new_account(services, "no keys"))
    answer = api.client.patch(f"/v1/profiles/{api.account.profile_id}",
                              json={"pixabay_api_key": "abc"}, headers=api.headers)
    assert answer.status_code == 422
    assert answer.get_json()["error"]["code"] == "secrets_unavailable"
    assert answer.get_json()["error"]["field"] == "pixabay_api_key"


@pytest.mark.parametrize(("body", "field"), [
    ({"llm": {"base_url": "ftp://x/v1"}}, "llm.base_url"),
    ({"llm": {"timeout": 0}}, "llm.timeout"),
    ({"llm": {"secret": "x"}}, "llm.secret"),
    ({"visuals": "clipart"}, "visuals"),
    ({"script": {"generator": "gpt"}}, "script.generator"),
    ({"script": {"tone": "line\nbreak"}}, "script.tone"),
])
def test_bad_content_settings_name_their_field(api: Api, body: dict[str, Any],
                                               field: str) -> None:
    answer = _patch(api, body)
    assert answer.status_code == 422 and answer.get_json()["error"]["field"] == field


def test_jobs_refuse_what_is_not_configured(api: Api) -> None:
    for body, code, field in (
            ({"script": {"generator": "llm"}}, "llm_not_configured", "script.generator"),
            ({"visuals": "stock"}, "stock_not_configured", "visuals")):
        answer = api.create_job({"source": {"type": "idea", "idea": "Why kites fly"}, **body})
        assert answer.status_code == 422
        assert answer.get_json()["error"]["code"] == code
        assert answer.get_json()["error"]["field"] == field


def test_job_options_snapshot_the_profile_content_settings(api: Api,
                                                           services: Services) -> None:
    _patch(api, {"llm": {"base_url": "https://llm.example.com/v1", "model": "m",
                         "api_key": LLM_KEY}, "script": {"tone": "calm"}})
    answer = api.create_job({"source": {"type": "idea", "idea": "Why kites fly",
                                        "points": ["Wind pushes on the sail"]},
                             "script": {"generator": "llm"}, "visuals": "generated"})
    assert answer.status_code == 202, answer.get_json()
    with services.sessions() as session:
        job = session.get(Job, answer.get_json()["id"])
        options, source = job.options, job.source
    assert options["script"] == {"tone": "calm", "generator": "llm"}
    assert options["visuals"] == "generated"
    assert options["llm"] == {"base_url": "https://llm.example.com/v1", "model": "m"}
    assert options["secrets"]["llm_api_key"].startswith("fernet:")
    assert source["points"] == ["Wind pushes on the sail"]
    assert LLM_KEY not in api.get(f"/v1/jobs/{job.id}").get_data(as_text=True)


def test_a_users_script_is_a_job(api: Api, services: Services, small_mp4: Any) -> None:
    upload = api.client.post("/v1/uploads", data=small_mp4.read_bytes(), headers={
        **api.headers, "Content-Type": "video/mp4"}).get_json()
    answer = api.create_job({"source": {
        "type": "script", "title": "Cold brew", "call_to_action": "Shop now",
        "hashtags": ["coffee"],
        "scenes": [{"narration": "Cold brew is smoother.", "headline": "Smoother",
                    "search_terms": ["cold brew"], "media": [upload["id"]]},
                   {"narration": "It keeps for a week in the fridge."}]}})
    assert answer.status_code == 202, answer.get_json()
    with services.sessions() as session:
        job = session.get(Job, answer.get_json()["id"])
        assert job.source["scenes"][1]["narration"] == "It keeps for a week in the fridge."
        assert [item["kind"] for item in job.options["media"]] == ["clip"]


@pytest.mark.parametrize(("scenes", "field"), [
    ([], "source.scenes"),
    ([{"narration": "   "}], "source.scenes.0.narration"),
    ([{"narration": "ok"}, {"narration": "bell\x07"}], "source.scenes.1.narration"),
    ([{"narration": "🔥🔥"}], "source.scenes.0.narration"),
    ([{"narration": "x" * 1001}], "source.scenes.0.narration"),
    ([{"narration": "ok", "headline": "two\nlines"}], "source.scenes.0.headline"),
    ([{"narration": "ok", "search_terms": ["a", "b", "c", "d", "e"]}],
     "source.scenes.0.search_terms"),
    ([{"narration": "ok", "media": ["upl_nope"]}], "source.scenes.0.media.0"),
    ([{"narration": "ok", "voice": "x"}], "source.scenes.0.voice"),
    ([{"narration": "ok"}] * 31, "source.scenes"),
])
def test_bad_scripts_name_the_field(api: Api, scenes: list[Any], field: str) -> None:
    answer = api.create_job({"source": {"type": "script", "scenes": scenes}})
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["error"]["field"] == field


def test_bad_points_name_the_field(api: Api) -> None:
    answer = api.create_job({"source": {"type": "idea", "idea": "Why kites fly",
                                        "points": ["fine", "two\nlines"]}})
    assert answer.status_code == 422 and answer.get_json()["error"]["field"] == (
        "source.points.1")


def test_stored_profiles_hold_no_clear_secret_in_any_column(api: Api,
                                                           services: Services) -> None:
    """Every secret a profile holds, and every table one could land in, read back raw."""
    secrets = {"llm": "sk-llm-4f1d9a", "pexels": "pexels-77c0e1", "pixabay": "pixabay-0b3e5d",
               "postiz": "postiz-a81c42", "webhook": "whsec-9d2f67"}
    answer = _patch(api, {"llm": {"api_key": secrets["llm"]},
                          "pexels_api_key": secrets["pexels"],
                          "pixabay_api_key": secrets["pixabay"],
                          "publish": {"postiz": {"api_key": secrets["postiz"]},
                                      "webhook": {"url": "https://hooks.example.com/vf",
                                                  "secret": secrets["webhook"]}}})
    assert answer.status_code == 200, answer.get_json()
    assert not any(value in answer.get_data(as_text=True) for value in secrets.values())
    api.create_job({"source": {"type": "idea", "idea": "Why kites fly"}})
    with services.sessions() as session:
        tables = [name for (name,) in session.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'table'"))]
        dumped = " ".join(str(row) for table in tables
                          for row in session.execute(text(f'SELECT * FROM "{table}"')))
        assert session.scalars(select(Job)).first() is not None
    assert "profiles" in tables and "jobs" in tables
    assert [name for name, value in secrets.items() if value in dumped] == []
    # Each is sealed, and opens again to what was sent.
    box = SecretBox.from_settings(services.settings)
    with services.sessions() as session:
        sealed = session.get(Profile, api.account.profile_id).settings["secrets"]
    assert {name: box.open(value) for name, value in sealed.items()} == {
        "llm_api_key": secrets["llm"], "pexels_api_key": secrets["pexels"],
        "pixabay_api_key": secrets["pixabay"], "postiz_api_key": secrets["postiz"],
        "webhook_secret": secrets["webhook"]}


def test_publish_settings_merge_and_keep_their_secrets_sealed(api: Api,
                                                              services: Services) -> None:
    body = _patch(api, {"hashtags": ["#coffee", "brew"], "publish": {
        "postiz": {"base_url": "http://postiz.example:4007/api/public/v1/",
                   "api_key": "postiz-secret-123", "type": "schedule",
                   "integrations": {"tiktok": "int_tt", "youtube": "int_yt"},
                   "tiktok": {"privacy_level": "SELF_ONLY", "duet": False},
                   "windows": [{"days": "mon-fri", "from": "09:00", "to": "21:00"}],
                   "timezone": "Europe/Berlin", "daily_limit": 3, "per_hour": 30},
        "webhook": {"url": "https://hooks.example.com/vf", "secret": "whsec-456"}}})
    assert body.status_code == 200, body.get_json()
    publish = body.get_json()["publish"]
    assert publish["postiz"]["base_url"] == "http://postiz.example:4007/api/public/v1"
    assert publish["postiz"]["api_key_set"] is True and "api_key" not in publish["postiz"]
    assert publish["postiz"]["windows"] == [{"days": "mon-fri", "from": "09:00", "to": "21:00"}]
    assert publish["webhook"] == {"url": "https://hooks.example.com/vf", "secret_set": True}
    assert body.get_json()["hashtags"] == ["coffee", "brew"]
    # A later PATCH merges: one integration unlinked, TikTok settings extended.
    again = _patch(api, {"publish": {"postiz": {"integrations": {"youtube": ""},
                                                "tiktok": {"comment": True}}}}).get_json()
    assert again["publish"]["postiz"]["integrations"] == {"tiktok": "int_tt"}
    assert again["publish"]["postiz"]["tiktok"] == {"privacy_level": "SELF_ONLY",
                                                    "duet": False, "comment": True}
    assert again["publish"]["postiz"]["type"] == "schedule"
    raw = _raw_profile_rows(services)
    assert "postiz-secret-123" not in raw and "whsec-456" not in raw


@pytest.mark.parametrize(("publish", "field"), [
    ({"postiz": {"base_url": "postiz:4007"}}, "publish.postiz.base_url"),
    ({"postiz": {"type": "later"}}, "publish.postiz.type"),
    ({"postiz": {"integrations": {"myspace": "x"}}}, "publish.postiz.integrations.myspace"),
    ({"postiz": {"windows": [{"days": "mon-fri", "from": "9am", "to": "21:00"}]}},
     "publish.postiz.windows.0.from"),
    ({"postiz": {"timezone": "Mars/Olympus"}}, "publish.postiz.timezone"),
    ({"postiz": {"tiktok": {"privacy_level": "EVERYONE"}}},
     "publish.postiz.tiktok.privacy_level"),
    ({"postiz": {"youtube": {"title_template": "x" * 101}}},
     "publish.postiz.youtube.title_template"),
    ({"webhook": {"url": "ftp://x"}}, "publish.webhook.url"),
])
def test_bad_publish_settings_name_their_field(api: Api, publish: dict[str, Any],
                                               field: str) -> None:
    answer = _patch(api, {"publish": publish})
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["error"]["field"] == field


def test_integrations_come_from_the_profiles_postiz(api: Api, services: Services) -> None:
    from tests.support.postiz_server import postiz_server

    assert api.get(f"/v1/profiles/{api.account.profile_id}/integrations").status_code == 409
    with postiz_server("pz-key") as postiz:
        services.settings = replace(services.settings, fetch_allow_hosts=frozenset(
            {"127.0.0.1"}))
        _patch(api, {"publish": {"postiz": {"base_url": postiz.base_url, "api_key": "pz-key"}}})
        answer = api.get(f"/v1/profiles/{api.account.profile_id}/integrations")
        assert answer.status_code == 200, answer.get_json()
        assert {c["identifier"] for c in answer.get_json()["integrations"]} == {
            "tiktok", "youtube", "instagram"}
        assert [s.headers["authorization"] for s in postiz.seen("GET", "/integrations")] == [
            "pz-key"]
        _patch(api, {"publish": {"postiz": {"api_key": "wrong"}}})
        refused = api.get(f"/v1/profiles/{api.account.profile_id}/integrations")
        assert refused.status_code == 502
        assert "wrong" not in refused.get_data(as_text=True)
