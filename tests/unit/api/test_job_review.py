"""A person approves the script: a review job stops after its script stage until approved,
its script can be read, replaced and regenerated, and approval goes on from the voice stage."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from api.app import create_app
from store.db import session_scope
from store.models import Job, Profile, utcnow
from store.services import Services
from store.settings import Settings
from tests.support.jobs import migrated_services
from tests.unit.api.conftest import Api, RecordingDispatcher, new_account
from worker import tasks
from worker.celery_app import create_celery, task_name
from worker.execution import AwaitingReview, execute_stage
from worker.reconcile import plan_actions
from worker.runner import run_job

IDEA = {"type": "idea", "idea": "Why cold brew tastes smoother"}
EDITED = "Zebras quietly paint lighthouses"


def _post(api: Api, **extra: Any) -> Any:
    return api.create_job({"source": IDEA, "preset": "tiktok", **extra})


def _job(services: Services, job_id: str) -> Job:
    with services.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.stages  # load them before the session closes  # noqa: B018
        return job


def _stages(job: Job) -> dict[str, str]:
    return {row.name: row.status for row in job.stages}


def _awaiting_job(api: Api, services: Services) -> str:
    """A review job whose real script stage ran: it awaits review."""
    created = _post(api, review=True)
    assert created.status_code == 202, created.get_json()
    job_id = created.get_json()["id"]
    execute_stage(services, "script", job_id, worker="script@test")
    assert _job(services, job_id).status == "awaiting_review"
    return job_id


def _script(api: Api, job_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/jobs/{job_id}/script")
    assert response.status_code == 200, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def _put(api: Api, job_id: str, body: Any) -> Any:
    return api.client.put(f"/v1/jobs/{job_id}/script", json=body, headers=api.headers)


def _edited(script: dict[str, Any]) -> dict[str, Any]:
    scenes = [dict(scene) for scene in script["scenes"]]
    scenes[0]["narration"] = f"{EDITED}."
    return {**script, "scenes": scenes}


# --- stopping after the script ------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, embedded_settings: Settings
            ) -> Iterator[tuple[Api, Services]]:
    """An API client and its services on SQLite with memory locks, or Postgres with Redis."""
    settings = (embedded_settings if request.param == "sqlite"
                else request.getfixturevalue("distributed_settings"))
    with migrated_services(settings) as services:
        app = create_app(services=services, dispatcher=RecordingDispatcher())
        yield Api(app.test_client(), new_account(services)), services


def test_a_review_job_stops_after_its_script(backend: tuple[Api, Services],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """After the real script stage the job awaits review with voice pending, its project lock
    is free yet the project refuses a second generation, and nothing else moves it on."""
    api, services = backend
    job_id = _awaiting_job(api, services)
    job = _job(services, job_id)
    assert (job.status, job.current_stage) == ("awaiting_review", "voice")
    assert _stages(job) == {"script": "succeeded", "voice": "pending", "captions": "pending",
                            "render": "pending", "publish": "pending"}
    assert services.locks.holder(job.project_id) is None

    busy = _post(api, project_id=job.project_id)
    assert busy.status_code == 409
    error = busy.get_json()["error"]
    assert (error["code"], error["field"]) == ("project_busy", "project_id")
    assert job_id in error["message"] and "waiting for review" in error["message"]
    assert services.locks.holder(job.project_id) is None  # the refused job let go of it

    # The voice message a Celery chain sends after the script is ignored: no run, no failure.
    celery = create_celery(replace(services.settings,
                                   redis_url=services.settings.redis_url or "redis://127.0.0.1:1/0"))
    monkeypatch.setitem(tasks._services, os.getpid(), services)
    result = celery.tasks[task_name("voice")].apply(args=({"job_id": job_id},))
    assert result.state == "IGNORED"
    with pytest.raises(AwaitingReview):
        execute_stage(services, "voice", job_id, worker="voice@test")
    voice = next(row for row in _job(services, job_id).stages if row.name == "voice")
    assert (voice.status, voice.attempts, voice.worker) == ("pending", 0, None)
    assert _job(services, job_id).status == "awaiting_review"

    with services.sessions() as session:
        assert [a for a in plan_actions(session, services, utcnow()) if a.job_id == job_id] == []

    shown = api.get(f"/v1/jobs/{job_id}").get_json()
    assert (shown["status"], shown["review"]) == ("awaiting_review", True)
    assert shown["script_url"] == f"/v1/jobs/{job_id}/script"
    assert shown["approve_url"] == f"/v1/jobs/{job_id}/approve"
    assert shown["script_edits"] == []
    listed = api.get("/v1/jobs?status=awaiting_review").get_json()["jobs"]
    assert [j["id"] for j in listed] == [job_id]


def test_the_in_process_runner_stops_at_review(api: Api, services: Services) -> None:
    """run_job runs the script stage of a review job and stops there: voice never starts."""
    job_id = _post(api, review=True).get_json()["id"]
    assert run_job(services, job_id, worker="local") is False
    job = _job(services, job_id)
    assert job.status == "awaiting_review" and job.error_code is None
    assert _stages(job)["voice"] == "pending"
    assert "voice_wav" not in job.artifacts


def test_a_job_without_review_goes_straight_on(api: Api, services: Services) -> None:
    """Without review the script stage leaves the job running and its project locked."""
    job_id = _post(api).get_json()["id"]
    execute_stage(services, "script", job_id, worker="script@test")
    job = _job(services, job_id)
    assert (job.status, job.options["review"]) == ("running", False)
    assert services.locks.holder(job.project_id) == job_id
    shown = api.get(f"/v1/jobs/{job_id}").get_json()
    assert (shown["review"], shown["script_url"], shown["approve_url"]) == (False, None, None)


def _set_profile_review(services: Services, profile_id: str, value: bool) -> None:
    with session_scope(services.sessions) as session:
        profile = session.get(Profile, profile_id)
        assert profile is not None
        profile.settings = {**(profile.settings or {}), "review": value}


@pytest.mark.parametrize(("profile", "request_says", "expected"), [
    pytest.param(True, None, True, id="profile-default-applies"),
    pytest.param(True, False, False, id="request-overrides-profile"),
    pytest.param(False, True, True, id="request-asks-for-it"),
    pytest.param(None, None, False, id="nobody-asks"),
])
def test_review_comes_from_the_request_else_the_profile(
        api: Api, services: Services, profile: bool | None, request_says: bool | None,
        expected: bool) -> None:
    """The request's review wins; left out, the profile's settings["review"] decides."""
    if profile is not None:
        _set_profile_review(services, api.account.profile_id, profile)
    extra = {} if request_says is None else {"review": request_says}
    job_id = _post(api, **extra).get_json()["id"]
    assert _job(services, job_id).options["review"] is expected
    execute_stage(services, "script", job_id, worker="script@test")
    assert _job(services, job_id).status == ("awaiting_review" if expected else "running")


def test_canceling_a_job_awaiting_review(api: Api, services: Services) -> None:
    """DELETE cancels a job awaiting review: the voice stage it waited in is canceled."""
    job_id = _awaiting_job(api, services)
    response = api.client.delete(f"/v1/jobs/{job_id}", headers=api.headers)
    assert response.status_code == 202
    job = _job(services, job_id)
    assert (job.status, _stages(job)["voice"], _stages(job)["render"]) == (
        "canceled", "canceled", "skipped")


# --- reading and replacing the script ---------------------------------------------------------

def test_the_script_is_readable_once_written(api: Api, services: Services) -> None:
    """GET /script is 409 before the script stage, then the stored script; 404 to others."""
    job_id = _post(api, review=True).get_json()["id"]
    early = api.get(f"/v1/jobs/{job_id}/script")
    assert early.status_code == 409
    assert early.get_json()["error"]["code"] == "script_not_ready"
    execute_stage(services, "script", job_id, worker="script@test")
    stored = json.loads(services.media.read_bytes(_job(services, job_id).artifacts["script"]))
    assert _script(api, job_id) == stored
    stranger = Api(api.client, new_account(services, "other"))
    assert stranger.get(f"/v1/jobs/{job_id}/script").status_code == 404
    assert _put(stranger, job_id, _edited(stored)).status_code == 404
    assert stranger.client.post(f"/v1/jobs/{job_id}/approve",
                                headers=stranger.headers).status_code == 404


def test_an_edit_is_a_new_object_and_is_recorded(api: Api, services: Services) -> None:
    """PUT stores the edit beside the original, points the job at it and records who and when."""
    job_id = _awaiting_job(api, services)
    original_key = _job(services, job_id).artifacts["script"]
    original = services.media.read_bytes(original_key)
    response = _put(api, job_id, _edited(_script(api, job_id)))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scenes"][0]["narration"] == f"{EDITED}."

    job = _job(services, job_id)
    assert job.artifacts["script"] == f"{job_id}/script/script-edit-1.json"
    assert services.media.read_bytes(original_key) == original  # the old one is kept
    assert _script(api, job_id)["scenes"][0]["narration"] == f"{EDITED}."
    (edit,) = job.options["script_edits"]
    assert edit["account_id"] == api.account.account_id and edit["via"] == "api"
    assert edit["script"] == job.artifacts["script"] and edit["at"].endswith("Z")
    assert job.options["review"] is True and job.options["language"] == "en"
    assert api.get(f"/v1/jobs/{job_id}").get_json()["script_edits"] == [edit]

    again = _put(api, job_id, {"title": "Shorter", "scenes": [{"narration": "Only this."}]})
    assert again.status_code == 200
    assert _job(services, job_id).artifacts["script"] == f"{job_id}/script/script-edit-2.json"
    # Fields left out keep their values; the scenes sent are all the scenes.
    assert again.get_json()["hashtags"] == response.get_json()["hashtags"]
    assert [s["narration"] for s in again.get_json()["scenes"]] == ["Only this."]


def test_a_script_read_can_be_sent_back_unchanged(api: Api, services: Services) -> None:
    """Every field GET /script answers with is one PUT accepts."""
    job_id = _awaiting_job(api, services)
    script = _script(api, job_id)
    assert _put(api, job_id, script).get_json() == script


def _scenes(count: int, **change: Any) -> list[dict[str, Any]]:
    return [{"narration": f"Scene {i} says something.", **change} for i in range(count)]


BAD_EDITS = [
    pytest.param({"scenes": [*_scenes(2), {"narration": "   "}]}, "invalid_field",
                 "scenes.2.narration", id="blank-narration"),
    pytest.param({"scenes": [{"narration": ""}]}, "invalid_field", "scenes.0.narration",
                 id="empty-narration"),
    pytest.param({"scenes": [{"headline": "No words"}]}, "missing_field",
                 "scenes.0.narration", id="missing-narration"),
    pytest.param({"scenes": _scenes(1, narration="Ring \x07 the bell")}, "invalid_field",
                 "scenes.0.narration", id="control-char-in-narration"),
    pytest.param({"scenes": _scenes(1), "title": "Two\nlines"}, "invalid_field", "title",
                 id="line-break-in-title"),
    pytest.param({"scenes": _scenes(1), "hashtags": ["#ok", "#not ok"]}, "invalid_field",
                 "hashtags.1", id="hashtag-with-space"),
    pytest.param({"scenes": _scenes(31)}, "invalid_field", "scenes", id="too-many-scenes"),
    pytest.param({"scenes": []}, "invalid_field", "scenes", id="no-scenes"),
    pytest.param({"scenes": _scenes(1, narration="x" * 1001)}, "invalid_field",
                 "scenes.0.narration", id="narration-too-long"),
    pytest.param({"scenes": _scenes(1, headline="h" * 101)}, "invalid_field",
                 "scenes.0.headline", id="headline-too-long"),
    pytest.param({"scenes": _scenes(1, search_terms=["a", "b", "c", "d", "e"])},
                 "invalid_field", "scenes.0.search_terms", id="too-many-search-terms"),
    pytest.param({"scenes": _scenes(1), "mood": "happy"}, "unknown_field", "mood",
                 id="unknown-field"),
    pytest.param({"scenes": _scenes(1, colour="red")}, "unknown_field", "scenes.0.colour",
                 id="unknown-scene-field"),
    pytest.param({"scenes": "one scene"}, "invalid_type", "scenes", id="scenes-not-a-list"),
    pytest.param({"scenes": _scenes(1), "title": 7}, "invalid_type", "title",
                 id="title-a-number"),
    pytest.param({"scenes": _scenes(1, visuals=["first"])}, "invalid_field",
                 "scenes.0.visuals.0", id="visual-not-an-index"),
    pytest.param({"scenes": _scenes(1), "kind": "movie"}, "invalid_field", "kind",
                 id="unknown-kind"),
]


@pytest.mark.parametrize(("change", "code", "field"), BAD_EDITS)
def test_a_bad_edit_is_refused_naming_the_field(api: Api, services: Services,
                                                change: dict[str, Any], code: str,
                                                field: str) -> None:
    """A bad script is a 422 whose error names the field to fix, and nothing is stored."""
    job_id = _awaiting_job(api, services)
    before = _job(services, job_id).artifacts["script"]
    response = _put(api, job_id, {"title": "A title", **change})
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"].startswith(f"{field}:")
    job = _job(services, job_id)
    assert job.artifacts["script"] == before and "script_edits" not in job.options


def test_a_control_character_is_explained(api: Api, services: Services) -> None:
    """The message says what is wrong with a control character, not just that it is invalid."""
    job_id = _awaiting_job(api, services)
    response = _put(api, job_id, {"title": "Tab\there", "scenes": _scenes(1)})
    assert "control characters" in response.get_json()["error"]["message"]


def test_only_a_job_awaiting_review_takes_an_edit(api: Api, services: Services) -> None:
    """PUT, approve and regenerate on a job that is not awaiting review are 409s."""
    job_id = _post(api).get_json()["id"]
    execute_stage(services, "script", job_id, worker="script@test")
    script = _script(api, job_id)
    for response in (_put(api, job_id, _edited(script)),
                     api.client.post(f"/v1/jobs/{job_id}/approve", headers=api.headers),
                     api.client.post(f"/v1/jobs/{job_id}/script/regenerate",
                                     headers=api.headers)):
        assert response.status_code == 409
        assert response.get_json()["error"]["code"] == "not_awaiting_review"
        assert "running" in response.get_json()["error"]["message"]
    assert "script_edits" not in _job(services, job_id).options


# --- approving ----------------------------------------------------------------------------

def test_approval_goes_on_from_voice_with_the_edited_script(
        api: Api, services: Services, dispatcher: RecordingDispatcher) -> None:
    """Approve sends the job once from voice, the script is not run again, and the voiceover
    says the edited words."""
    job_id = _awaiting_job(api, services)
    assert _put(api, job_id, _edited(_script(api, job_id))).status_code == 200
    script_row = next(r for r in _job(services, job_id).stages if r.name == "script")

    response = api.client.post(f"/v1/jobs/{job_id}/approve", headers=api.headers)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert (body["id"], body["status"], body["approve_url"]) == (job_id, "queued", None)
    assert response.headers["Location"].endswith(f"/v1/jobs/{job_id}")
    sent = [(j, s) for j, s in zip(dispatcher.dispatched, dispatcher.from_stages, strict=True)
            if j == job_id]
    assert sent == [(job_id, None), (job_id, "voice")]  # created, then approved
    job = _job(services, job_id)
    assert services.locks.holder(job.project_id) == job_id

    for stage in ("voice", "captions"):
        execute_stage(services, stage, job_id, worker=f"{stage}@test")
    job = _job(services, job_id)
    again = next(r for r in job.stages if r.name == "script")
    assert (again.attempts, again.started_at, again.worker) == (
        script_row.attempts, script_row.started_at, "script@test")
    assert again.attempts == 1
    voiceover = json.loads(services.media.read_bytes(job.artifacts["voiceover"]))
    spoken = " ".join(word["text"] for word in voiceover["words"])
    assert EDITED in spoken
    assert api.client.post(f"/v1/jobs/{job_id}/approve",
                           headers=api.headers).status_code == 409  # once only


def test_approval_waits_for_a_free_project(api: Api, services: Services,
                                           dispatcher: RecordingDispatcher) -> None:
    """While another generation holds the project lock, approve is 409 and changes nothing."""
    job_id = _awaiting_job(api, services)
    project_id = _job(services, job_id).project_id
    assert services.locks.acquire(project_id, "job_other", 60)
    sent = len(dispatcher.dispatched)
    response = api.client.post(f"/v1/jobs/{job_id}/approve", headers=api.headers)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "project_busy"
    assert _job(services, job_id).status == "awaiting_review"
    assert len(dispatcher.dispatched) == sent


# --- regenerating -------------------------------------------------------------------------

def _regenerate(api: Api, job_id: str, body: Any = None) -> Any:
    return api.client.post(f"/v1/jobs/{job_id}/script/regenerate", headers=api.headers,
                           **({} if body is None else {"json": body}))


@pytest.mark.parametrize("scene", [None, 1])
def test_regeneration_reopens_the_script_stage(api: Api, services: Services,
                                               dispatcher: RecordingDispatcher,
                                               scene: int | None) -> None:
    """Regenerate records the request, reopens the script stage and sends the job from it;
    once the stage ran again the job awaits review again, with the new script."""
    job_id = _awaiting_job(api, services)
    assert _put(api, job_id, _edited(_script(api, job_id))).status_code == 200
    edit_key = _job(services, job_id).artifacts["script"]

    response = _regenerate(api, job_id, None if scene is None else {"scene": scene})
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["status"] == "queued"
    assert (dispatcher.dispatched[-1], dispatcher.from_stages[-1]) == (job_id, None)  # script
    job = _job(services, job_id)
    assert job.status == "queued"
    assert job.options["regenerate"]["scene"] == scene
    assert job.options["regenerate"]["requested_at"].endswith("Z")
    assert _stages(job)["script"] == "pending"
    assert job.artifacts["script"] == edit_key  # a one-scene regeneration starts from it
    assert services.locks.holder(job.project_id) == job_id

    execute_stage(services, "script", job_id, worker="script@test")
    job = _job(services, job_id)
    assert job.status == "awaiting_review"
    assert job.artifacts["script"] == f"{job_id}/script/script.json"
    assert services.media.exists(edit_key)
    assert EDITED not in json.dumps(_script(api, job_id))
    assert services.locks.holder(job.project_id) is None


@pytest.mark.parametrize(("body", "code"), [
    pytest.param({"scene": 2}, "invalid_field", id="past-the-last-scene"),
    pytest.param({"scene": -1}, "invalid_field", id="negative"),
    pytest.param({"scene": "1"}, "invalid_type", id="a-string"),
    pytest.param({"scene": True}, "invalid_type", id="a-bool"),
])
def test_regenerating_a_missing_scene_is_refused(api: Api, services: Services,
                                                 body: dict[str, Any], code: str) -> None:
    """A scene index the script does not have is a 422 on `scene`; the job keeps waiting."""
    job_id = _awaiting_job(api, services)
    assert len(_script(api, job_id)["scenes"]) == 2
    response = _regenerate(api, job_id, body)
    assert response.status_code == 422, response.get_json()
    assert (response.get_json()["error"]["code"], response.get_json()["error"]["field"]) == (
        code, "scene")
    job = _job(services, job_id)
    assert job.status == "awaiting_review" and "regenerate" not in job.options
