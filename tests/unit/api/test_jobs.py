"""POST /v1/jobs, GET /v1/jobs/<id> and GET /v1/jobs/<id>/video against a SQLite database."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select

from api.app import create_app
from pipeline.render.presets import PRESETS
from pipeline.sequence import STAGE_NAMES
from store import jobs as job_store
from store.db import session_scope
from store.media import artifact_key
from store.migrate import upgrade
from store.models import Account, GenerationProgress, Job, Profile, Project, new_id
from store.services import Services, build_services
from store.settings import Settings
from tests.unit.api.conftest import Api, RecordingDispatcher, new_account
from worker.routing import ROUTES

IDEA = "Why cold brew tastes smoother"


def _body(idea: str = IDEA, **extra: Any) -> dict[str, Any]:
    return {"source": {"type": "idea", "idea": idea}, "preset": "tiktok", **extra}


def _post(api: Api, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    """POST /v1/jobs with the account's key plus extra headers."""
    return api.client.post("/v1/jobs", json=_body() if body is None else body,
                           headers={**api.headers, **(headers or {})})


def _job(services: Services, job_id: str) -> Job | None:
    with services.sessions() as session:
        job = session.get(Job, job_id)
        if job is not None:
            job.stages  # load the stages before the session closes  # noqa: B018
        return job


def _count(services: Services, model: type) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _add_profile(services: Services, account_id: str, name: str = "Second") -> str:
    with session_scope(services.sessions) as session:
        profile = Profile(id=new_id("prof"), account_id=account_id, name=name,
                          is_default=False, settings={})
        session.add(profile)
    return profile.id


def _succeed_every_stage(services: Services, job_id: str, video_key: str) -> None:
    with session_scope(services.sessions) as session:
        for stage in STAGE_NAMES:
            job_store.mark_stage_running(session, job_id, stage, worker=f"{stage}@test")
            artifacts = {"video": video_key} if stage == "render" else {}
            job_store.mark_stage_succeeded(session, job_id, stage, artifacts)


# --- POST /v1/jobs: bad input ------------------------------------------------------------

_TOO_LONG = "a" * 501  # the default MAX_IDEA_CHARS is 500

BAD_BODIES = [
    # (raw body, status, error.code, field named by the error or None)
    pytest.param(b'{"source": ', 400, "invalid_json", None, id="malformed-json"),
    pytest.param(b"", 400, "invalid_json", None, id="empty-body"),
    pytest.param(b"  \n ", 400, "invalid_json", None, id="blank-body"),
    pytest.param(b"\xff\xfe\x00", 400, "invalid_json", None, id="not-utf8"),
    pytest.param(b"[1, 2]", 400, "invalid_body", None, id="array-body"),
    pytest.param(b'"an idea"', 400, "invalid_body", None, id="string-body"),
    pytest.param(b"null", 400, "invalid_body", None, id="null-body"),
    pytest.param(_body(color="red"), 422, "unknown_field", "color", id="unknown-top-field"),
    pytest.param({"source": {"type": "idea", "idea": IDEA, "lang": "en"}}, 422,
                 "unknown_field", "source.lang", id="unknown-source-field"),
    pytest.param({"preset": "tiktok"}, 422, "missing_field", "source", id="missing-source"),
    pytest.param({"source": {"type": "idea"}}, 422, "missing_field", "source.idea",
                 id="missing-idea"),
    pytest.param({"source": {"type": "url", "idea": IDEA}}, 422, "invalid_field",
                 "source.type", id="wrong-source-type"),
    pytest.param({"source": "make a video"}, 422, "invalid_type", "source",
                 id="source-not-object"),
    pytest.param(_body(""), 422, "invalid_field", "source.idea", id="empty-idea"),
    pytest.param(_body(" \t\n  "), 422, "invalid_field", "source.idea", id="blank-idea"),
    pytest.param(_body(_TOO_LONG), 422, "invalid_field", "source.idea", id="too-long-idea"),
    pytest.param(_body("🎉🔥🚀"), 422, "invalid_field", "source.idea", id="emoji-only-idea"),
    pytest.param(_body("\u200d\ufe0f👩‍💻"), 422, "invalid_field", "source.idea",
                 id="joiners-only-idea"),
    pytest.param({"source": {"type": "idea", "idea": 42}}, 422, "invalid_type", "source.idea",
                 id="idea-number"),
    pytest.param({"source": {"type": "idea", "idea": ["a", "b"]}}, 422, "invalid_type",
                 "source.idea", id="idea-list"),
    pytest.param(_body(preset="myspace"), 422, "unknown_preset", "preset",
                 id="unknown-preset"),
    pytest.param({**_body(), "preset": 5}, 422, "invalid_type", "preset", id="preset-number"),
    pytest.param({**_body(), "preset": 7}, 422, "invalid_type", "preset", id="preset-number"),
    pytest.param(_body(profile_id=7), 422, "invalid_type", "profile_id", id="profile-id-number"),
]


@pytest.mark.parametrize(("body", "status", "code", "field"), BAD_BODIES)
def test_create_job_rejects_bad_input(api: Api, services: Services,
                                      dispatcher: RecordingDispatcher, body: Any, status: int,
                                      code: str, field: str | None) -> None:
    """Bad input gets a 4xx JSON error whose code and message name what to fix, and no job."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = api.client.post("/v1/jobs", data=raw, headers=api.headers,
                               content_type="application/json")
    assert response.status_code == status, response.json
    error = response.json["error"]
    assert error["code"] == code
    assert error.get("field") == field
    if field is not None:
        assert error["message"].startswith(f"{field}:")
    else:
        assert "JSON" in error["message"]
    assert _count(services, Job) == 0
    assert _count(services, Project) == 0
    assert dispatcher.dispatched == []


def test_too_long_idea_message_gives_the_limit(api: Api, services: Services) -> None:
    """An over-long idea is refused with the configured limit and the actual length."""
    limit = services.settings.max_idea_chars
    response = api.create_job(_body("x" * (limit + 1)))
    assert response.status_code == 422
    assert f"at most {limit}" in response.json["error"]["message"]
    assert str(limit + 1) in response.json["error"]["message"]


def test_idea_of_exactly_the_limit_is_accepted(api: Api, services: Services) -> None:
    """An idea of exactly max_idea_chars characters is still accepted."""
    response = api.create_job(_body("y" * services.settings.max_idea_chars))
    assert response.status_code == 202, response.json


def test_unknown_preset_message_lists_known_presets(api: Api) -> None:
    """The unknown-preset error tells the client which presets exist."""
    response = api.create_job(_body(preset="myspace"))
    message = response.json["error"]["message"]
    assert "'myspace'" in message
    assert all(name in message for name in PRESETS)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[" * 50_000, id="nested-too-deep"),
        pytest.param(b'{"source": {"type": "idea", "idea": ' + b"9" * 5_000 + b"}}",
                     id="int-too-long"),
    ],
)
def test_json_the_parser_cannot_take_is_a_400(api: Api, raw: bytes) -> None:
    """A small body that Python's JSON parser refuses is bad input (400), not a server error."""
    assert len(raw) < api.client.application.config["MAX_CONTENT_LENGTH"]
    response = api.client.post("/v1/jobs", data=raw, headers=api.headers,
                               content_type="application/json")
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "invalid_json"


UNICODE_IDEAS = [
    pytest.param('Why "cheap" coffee isn\'t always cheap — a “fair” look', id="quotes"),
    pytest.param("Launch day 🚀🔥 for our app", id="emoji-and-words"),
    pytest.param("Crème brûlée à la maison, façon grand-mère", id="accents"),
    pytest.param("كيف تصنع القهوة العربية في المنزل؟", id="arabic"),
    pytest.param("如何在家做咖啡", id="cjk"),
    pytest.param("東京で安く食べる方法", id="japanese"),
    pytest.param("Braces {\\b1}bold{\\b0} and back\\slashes", id="markup-chars"),
]


@pytest.mark.parametrize("idea", UNICODE_IDEAS)
def test_unicode_ideas_are_accepted_verbatim(api: Api, services: Services, idea: str) -> None:
    """Ideas in any script, with quotes or emoji among words, are queued and stored unchanged."""
    response = api.create_job(_body(idea))
    assert response.status_code == 202, response.json
    job = _job(services, response.json["id"])
    assert job is not None
    assert job.source == {"type": "idea", "idea": idea}


# --- POST /v1/jobs: what a 202 leaves behind ------------------------------------------------

def test_create_job_answers_202_and_writes_rows(api: Api, services: Services,
                                                dispatcher: RecordingDispatcher) -> None:
    """A 202 carries id, status and Location, after job, stages and progress rows committed."""
    response = api.create_job()
    assert response.status_code == 202, response.json
    body = response.json
    job_id = body["id"]
    assert body["status"] == "queued"
    assert response.headers["Location"] == f"/v1/jobs/{job_id}"
    assert body["url"] == f"/v1/jobs/{job_id}"
    assert body["profile_id"] == api.account.profile_id
    assert dispatcher.dispatched == [job_id]

    job = _job(services, job_id)
    assert job is not None
    assert job.status == "queued"
    assert job.account_id == api.account.account_id
    assert job.profile_id == api.account.profile_id
    assert job.project_id == body["project_id"]
    assert job.preset == "tiktok"
    assert job.source == {"type": "idea", "idea": IDEA}
    assert [(s.name, s.queue, s.status, s.attempts) for s in job.stages] == [
        (route.stage, route.queue, "pending", 0) for route in ROUTES
    ]
    assert [s.queue for s in job.stages] == ["cpu", "gpu", "gpu", "cpu", "cpu"]
    with services.sessions() as session:
        progress = session.get(GenerationProgress, job_id)
        project = session.get(Project, body["project_id"])
    assert progress is not None and progress.percent == 0
    assert project is not None and project.profile_id == api.account.profile_id
    assert project.name == IDEA
    assert services.locks.holder(project.id) == job_id


def test_location_of_new_job_can_be_fetched(api: Api) -> None:
    """The Location header of a 202 points at the job's status, which reads queued."""
    created = api.create_job()
    response = api.get(created.headers["Location"])
    assert response.status_code == 200
    assert response.json["id"] == created.json["id"]
    assert response.json["status"] == "queued"
    assert response.json["progress"] == 0


def test_preset_defaults_to_tiktok(api: Api, services: Services) -> None:
    """A body without a preset gets the tiktok preset."""
    response = api.create_job({"source": {"type": "idea", "idea": IDEA}})
    assert response.status_code == 202
    job = _job(services, response.json["id"])
    assert job is not None and job.preset == "tiktok"


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_known_preset_is_accepted(api: Api, services: Services, preset: str) -> None:
    """Each preset in pipeline.render.presets can be requested."""
    response = api.create_job(_body(preset=preset))
    assert response.status_code == 202, response.json
    job = _job(services, response.json["id"])
    assert job is not None and job.preset == preset


def test_profile_id_in_body_is_used(api: Api, services: Services) -> None:
    """profile_id in the body picks that profile for the job and its new project."""
    second = _add_profile(services, api.account.account_id)
    response = api.create_job(_body(profile_id=second))
    assert response.status_code == 202, response.json
    job = _job(services, response.json["id"])
    assert job is not None and job.profile_id == second
    with services.sessions() as session:
        assert session.get(Project, job.project_id).profile_id == second


def test_profile_header_is_used(api: Api, services: Services) -> None:
    """The X-Profile-Id header picks the profile when the body names none."""
    second = _add_profile(services, api.account.account_id)
    response = _post(api, headers={"X-Profile-Id": second})
    assert response.status_code == 202, response.json
    assert response.json["profile_id"] == second


def test_profile_in_body_wins_over_header(api: Api, services: Services) -> None:
    """When both name a profile, the body's profile_id is used."""
    second = _add_profile(services, api.account.account_id)
    response = _post(api, _body(profile_id=second),
                     headers={"X-Profile-Id": api.account.profile_id})
    assert response.status_code == 202, response.json
    assert response.json["profile_id"] == second


def test_default_profile_is_used_without_one_named(api: Api, services: Services) -> None:
    """Without profile_id or header, the account's default profile is used."""
    _add_profile(services, api.account.account_id)
    response = api.create_job()
    assert response.json["profile_id"] == api.account.profile_id


@pytest.mark.parametrize("where", ["body", "header"])
def test_another_accounts_profile_is_forbidden(api: Api, services: Services, where: str) -> None:
    """A profile of another account answers 403 profile_forbidden, naming where it came from
    and nothing about the profile itself."""
    other = new_account(services, "other")
    if where == "body":
        response = api.create_job(_body(profile_id=other.profile_id))
        field = "profile_id"
    else:
        response = _post(api, headers={"X-Profile-Id": other.profile_id})
        field = "X-Profile-Id"
    assert response.status_code == 403
    assert response.json["error"] == {"code": "profile_forbidden",
                                      "message": f"{field}: this profile belongs to another "
                                                 "account", "field": field}
    assert _count(services, Job) == 0


def test_account_without_default_profile_gets_503(api: Api, services: Services) -> None:
    """An account whose default flag was cleared is told to pass profile_id or set one."""
    with session_scope(services.sessions) as session:
        session.get(Profile, api.account.profile_id).is_default = False
    response = api.create_job()
    assert response.status_code == 503
    assert response.json["error"]["code"] == "no_default_profile"
    assert "profile_id" in response.json["error"]["message"]


def test_another_accounts_project_is_not_found(api: Api, services: Services,
                                               client: FlaskClient) -> None:
    """A project_id of another account answers 404 project_not_found."""
    other = Api(client, new_account(services, "other"))
    theirs = other.create_job().json["project_id"]
    response = api.create_job(_body(project_id=theirs))
    assert response.status_code == 404
    assert response.json["error"]["code"] == "project_not_found"
    assert response.json["error"]["field"] == "project_id"
    assert theirs in response.json["error"]["message"]
    assert _count(services, Job) == 1


def test_unknown_project_is_not_found(api: Api) -> None:
    """A project_id that does not exist answers 404 project_not_found."""
    response = api.create_job(_body(project_id="proj_nope"))
    assert response.status_code == 404
    assert response.json["error"]["code"] == "project_not_found"


def test_existing_project_is_reused(api: Api, services: Services) -> None:
    """A second job naming the project joins it instead of creating another project."""
    first = api.create_job().json
    services.locks.release(first["project_id"], first["id"])
    second = api.create_job(_body("Part two", project_id=first["project_id"]))
    assert second.status_code == 202, second.json
    assert second.json["project_id"] == first["project_id"]
    assert _count(services, Project) == 1
    assert _count(services, Job) == 2


def test_existing_project_keeps_its_profile(api: Api, services: Services) -> None:
    """A job for an existing project without a named profile runs under the project's profile."""
    second = _add_profile(services, api.account.account_id)
    first = api.create_job(_body(profile_id=second)).json
    services.locks.release(first["project_id"], first["id"])
    response = api.create_job(_body("Again", project_id=first["project_id"]))
    assert response.status_code == 202, response.json
    assert response.json["profile_id"] == second


def test_project_of_another_profile_is_a_mismatch(api: Api, services: Services) -> None:
    """Naming a profile and a project of a different profile answers 422 profile_mismatch."""
    second = _add_profile(services, api.account.account_id)
    first = api.create_job().json
    services.locks.release(first["project_id"], first["id"])
    response = api.create_job(_body(profile_id=second, project_id=first["project_id"]))
    assert response.status_code == 422
    assert response.json["error"]["code"] == "profile_mismatch"
    assert response.json["error"]["field"] == "project_id"


# --- the project lock ------------------------------------------------------------------------

def test_busy_project_gets_409_and_no_rows(api: Api, services: Services,
                                           dispatcher: RecordingDispatcher) -> None:
    """While a job holds the project lock, another POST for it is 409 and writes nothing."""
    first = api.create_job().json
    response = api.create_job(_body("Another", project_id=first["project_id"]))
    assert response.status_code == 409
    error = response.json["error"]
    assert error["code"] == "project_busy"
    assert error["field"] == "project_id"
    assert first["id"] in error["message"]
    assert _count(services, Job) == 1
    assert _count(services, GenerationProgress) == 1
    assert dispatcher.dispatched == [first["id"]]
    assert services.locks.holder(first["project_id"]) == first["id"]


def test_released_lock_lets_the_next_job_in(api: Api, services: Services) -> None:
    """Once the holder releases the project lock, a new job for the project is accepted."""
    first = api.create_job().json
    assert api.create_job(_body(project_id=first["project_id"])).status_code == 409
    services.locks.release(first["project_id"], first["id"])
    response = api.create_job(_body(project_id=first["project_id"]))
    assert response.status_code == 202, response.json
    assert services.locks.holder(first["project_id"]) == response.json["id"]


def test_new_jobs_without_project_do_not_contend(api: Api) -> None:
    """Jobs without project_id each get a fresh project, so they never block each other."""
    first = api.create_job()
    second = api.create_job()
    assert first.status_code == second.status_code == 202
    assert first.json["project_id"] != second.json["project_id"]


@pytest.fixture
def short_lock_services(embedded_settings: Settings) -> Iterator[Services]:
    """Services whose project locks live half a second."""
    settings = dataclasses.replace(embedded_settings, project_lock_ttl=0.5)
    upgrade(settings.database_url)
    svc = build_services(settings)
    yield svc
    svc.close()


def test_dead_holders_lock_expires(short_lock_services: Services) -> None:
    """A lock nobody releases (a dead worker's) expires after project_lock_ttl."""
    app = create_app(services=short_lock_services, dispatcher=RecordingDispatcher())
    api = Api(app.test_client(), new_account(short_lock_services))
    first = api.create_job().json
    assert api.create_job(_body(project_id=first["project_id"])).status_code == 409
    time.sleep(0.6)
    response = api.create_job(_body(project_id=first["project_id"]))
    assert response.status_code == 202, response.json


def test_broker_failure_answers_503_and_fails_the_job(api: Api, services: Services,
                                                      dispatcher: RecordingDispatcher) -> None:
    """When enqueueing fails the client gets 503, the job is failed and the lock released."""
    dispatcher.fail_with = ConnectionError("redis: connection refused")
    response = api.create_job()
    assert response.status_code == 503
    assert response.json["error"]["code"] == "broker_unavailable"

    with services.sessions() as session:
        job = session.scalars(select(Job)).one()
        stages = {s.name: s.status for s in job.stages}
    assert job.status == "failed"
    assert job.error_stage == "script"
    assert job.error_code == "broker_unavailable"
    assert "connection refused" in job.error_message
    assert stages == {"script": "failed", "voice": "skipped", "captions": "skipped",
                      "render": "skipped", "publish": "skipped"}
    assert services.locks.holder(job.project_id) is None

    dispatcher.fail_with = None
    retry = api.create_job(_body(project_id=job.project_id))
    assert retry.status_code == 202, retry.json


# --- GET /v1/jobs/<id> ---------------------------------------------------------------------

def test_get_job_shows_every_stage(api: Api, services: Services) -> None:
    """A job's status lists the five stages with queue, worker, times and error."""
    job_id = api.create_job().json["id"]
    with session_scope(services.sessions) as session:
        job_store.mark_stage_running(session, job_id, "script", worker="cpu@host-1")
    body = api.get(f"/v1/jobs/{job_id}").json
    assert body["status"] == "running"
    assert body["stage"] == "script"
    assert list(body["stages"]) == list(STAGE_NAMES)
    script = body["stages"]["script"]
    assert script["status"] == "running"
    assert script["queue"] == "cpu"
    assert script["worker"] == "cpu@host-1"
    assert script["attempts"] == 1
    assert script["started_at"].endswith("Z")
    assert script["finished_at"] is None
    assert script["error"] is None
    voice = body["stages"]["voice"]
    assert voice == {"status": "pending", "queue": "gpu", "worker": None, "attempts": 0,
                     "started_at": None, "finished_at": None, "error": None}
    assert body["error"] is None
    assert body["video_url"] is None
    assert body["source"] == {"type": "idea", "idea": IDEA}


def test_another_accounts_job_is_not_found(api: Api, services: Services,
                                           client: FlaskClient) -> None:
    """Another account's job answers 404 job_not_found, exactly like a missing one."""
    job_id = api.create_job().json["id"]
    other = Api(client, new_account(services, "other"))
    theirs = other.get(f"/v1/jobs/{job_id}")
    missing = other.get("/v1/jobs/job_doesnotexist")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json["error"]["code"] == missing.json["error"]["code"] == "job_not_found"
    assert other.get(f"/v1/jobs/{job_id}/video").status_code == 404


def test_progress_comes_from_live_progress(api: Api, services: Services) -> None:
    """The live (Redis or memory) percent is what GET reports while the job runs."""
    job_id = api.create_job().json["id"]
    with session_scope(services.sessions) as session:
        job_store.write_progress(session, job_id, "voice", 10, None)
    services.live.set(job_id, {"stage": "render", "percent": "42"})
    assert api.get(f"/v1/jobs/{job_id}").json["progress"] == 42


def test_progress_falls_back_to_generation_progress(api: Api, services: Services) -> None:
    """Without a live value, GET reports the durable generation_progress percent."""
    job_id = api.create_job().json["id"]
    with session_scope(services.sessions) as session:
        job_store.write_progress(session, job_id, "voice", 17, "speaking")
    assert api.get(f"/v1/jobs/{job_id}").json["progress"] == 17


def test_progress_ignores_a_garbled_live_value(api: Api, services: Services) -> None:
    """A live value that is not a whole number falls back to the durable percent."""
    job_id = api.create_job().json["id"]
    with session_scope(services.sessions) as session:
        job_store.write_progress(session, job_id, "voice", 23, None)
    services.live.set(job_id, {"percent": "abc"})
    assert api.get(f"/v1/jobs/{job_id}").json["progress"] == 23


class _BrokenLive:
    def set(self, job_id: str, values: dict[str, str]) -> None:
        raise ConnectionError("live progress is down")

    def get(self, job_id: str) -> dict[str, str] | None:
        raise ConnectionError("live progress is down")


def test_progress_survives_live_progress_outage(api: Api, services: Services) -> None:
    """When live progress cannot be read, GET still answers with the durable percent."""
    job_id = api.create_job().json["id"]
    with session_scope(services.sessions) as session:
        job_store.write_progress(session, job_id, "render", 55, None)
    services.live = _BrokenLive()
    response = api.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200
    assert response.json["progress"] == 55


def test_failed_job_names_stage_and_message(api: Api, services: Services) -> None:
    """A failed job says which stage failed, with its code and message, stage by stage."""
    job_id = api.create_job().json["id"]
    with session_scope(services.sessions) as session:
        job_store.mark_stage_running(session, job_id, "script", worker="cpu@a")
        job_store.mark_stage_succeeded(session, job_id, "script", {"script": "k"})
        job_store.mark_stage_running(session, job_id, "voice", worker="gpu@b")
        job_store.mark_stage_failed(session, job_id, "voice", "tool_failed",
                                    "espeak-ng exited with status 1")
    body = api.get(f"/v1/jobs/{job_id}").json
    assert body["status"] == "failed"
    assert body["stage"] == "voice"
    assert body["error"]["stage"] == "voice"
    assert body["error"]["code"] == "tool_failed"
    assert "voice" in body["error"]["message"]
    assert "espeak-ng exited with status 1" in body["error"]["message"]
    assert body["stages"]["voice"]["status"] == "failed"
    assert body["stages"]["voice"]["error"] == {"code": "tool_failed",
                                                "message": "espeak-ng exited with status 1"}
    assert body["stages"]["voice"]["finished_at"].endswith("Z")
    assert body["stages"]["script"]["status"] == "succeeded"
    assert [body["stages"][s]["status"] for s in ("captions", "render", "publish")] == [
        "skipped"] * 3
    assert body["video_url"] is None


# --- GET /v1/jobs/<id>/video ---------------------------------------------------------------

def _finished_job(api: Api, services: Services, mp4: Path) -> str:
    job_id = api.create_job().json["id"]
    key = artifact_key(job_id, "render", "video.mp4")
    services.media.put_file(key, mp4)
    _succeed_every_stage(services, job_id, key)
    return job_id


def test_video_is_409_until_the_job_succeeds(api: Api, services: Services) -> None:
    """A job that has not succeeded has no video yet: 409 video_not_ready."""
    job_id = api.create_job().json["id"]
    response = api.get(f"/v1/jobs/{job_id}/video")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "video_not_ready"
    assert "queued" in response.json["error"]["message"]


def test_succeeded_job_reports_100_and_video_url(api: Api, services: Services,
                                                 small_mp4: Path) -> None:
    """A succeeded job reads 100 % with every stage succeeded and a video URL."""
    job_id = _finished_job(api, services, small_mp4)
    body = api.get(f"/v1/jobs/{job_id}").json
    assert body["status"] == "succeeded"
    assert body["progress"] == 100
    assert body["stage"] is None
    assert {s["status"] for s in body["stages"].values()} == {"succeeded"}
    assert body["video_url"] == f"/v1/jobs/{job_id}/video"
    assert body["finished_at"].endswith("Z")


def test_video_download_returns_the_mp4(api: Api, services: Services, small_mp4: Path) -> None:
    """The finished video comes back whole, as video/mp4."""
    job_id = _finished_job(api, services, small_mp4)
    with api.get(f"/v1/jobs/{job_id}/video") as response:
        assert response.status_code == 200
        assert response.mimetype == "video/mp4"
        assert response.headers["Accept-Ranges"] == "bytes"
        assert response.get_data() == small_mp4.read_bytes()
        assert int(response.headers["Content-Length"]) == small_mp4.stat().st_size


def test_video_range_request_is_206(api: Api, services: Services, small_mp4: Path) -> None:
    """A Range request gets 206 with Content-Range and exactly the requested bytes."""
    job_id = _finished_job(api, services, small_mp4)
    size = small_mp4.stat().st_size
    with api.get(f"/v1/jobs/{job_id}/video", headers={"Range": "bytes=0-99"}) as response:
        assert response.status_code == 206
        assert response.headers["Content-Range"] == f"bytes 0-99/{size}"
        data = response.get_data()
    assert len(data) == 100
    assert data == small_mp4.read_bytes()[:100]


def test_video_suffix_range_is_206(api: Api, services: Services, small_mp4: Path) -> None:
    """A suffix range (the last 10 bytes) is answered with those bytes."""
    job_id = _finished_job(api, services, small_mp4)
    size = small_mp4.stat().st_size
    with api.get(f"/v1/jobs/{job_id}/video", headers={"Range": "bytes=-10"}) as response:
        assert response.status_code == 206
        assert response.headers["Content-Range"] == f"bytes {size - 10}-{size - 1}/{size}"
        assert response.get_data() == small_mp4.read_bytes()[-10:]


def test_unsatisfiable_range_is_416_json(api: Api, services: Services, small_mp4: Path) -> None:
    """A range past the end of the file answers 416 with the JSON error envelope."""
    job_id = _finished_job(api, services, small_mp4)
    size = small_mp4.stat().st_size
    with api.get(f"/v1/jobs/{job_id}/video",
                 headers={"Range": f"bytes={size + 10}-{size + 20}"}) as response:
        assert response.status_code == 416
        assert set(response.json["error"]) >= {"code", "message"}


def test_missing_video_file_is_410(api: Api, services: Services, small_mp4: Path) -> None:
    """A succeeded job whose file vanished from media storage answers 410 video_gone."""
    job_id = _finished_job(api, services, small_mp4)
    services.media.delete(artifact_key(job_id, "render", "video.mp4"))
    response = api.get(f"/v1/jobs/{job_id}/video")
    assert response.status_code == 410
    assert response.json["error"]["code"] == "video_gone"


# --- the same flow in the distributed mode (Postgres + Redis) -----------------------------

@pytest.fixture
def distributed_api(distributed_settings: Settings) -> Iterator[tuple[Api, Services]]:
    """An authorised client on the session's Postgres and Redis; its rows and keys removed."""
    svc = build_services(distributed_settings)
    app = create_app(services=svc, dispatcher=RecordingDispatcher())
    account = new_account(svc)
    yield Api(app.test_client(), account), svc
    with session_scope(svc.sessions) as session:
        job_ids = session.scalars(select(Job.id).where(Job.account_id == account.account_id))
        session.execute(delete(GenerationProgress)
                        .where(GenerationProgress.id.in_(list(job_ids))))
        session.execute(delete(Account).where(Account.id == account.account_id))
    for key in svc.redis.scan_iter(f"{distributed_settings.redis_key_prefix}:*"):
        svc.redis.delete(key)
    svc.close()


def test_distributed_create_lock_and_progress(distributed_api: tuple[Api, Services]) -> None:
    """On Postgres and Redis a job is written, holds a Redis lock, and reads Redis progress."""
    api, svc = distributed_api
    created = api.create_job()
    assert created.status_code == 202, created.json
    job_id, project_id = created.json["id"], created.json["project_id"]
    job = _job(svc, job_id)
    assert job is not None and [s.queue for s in job.stages] == ["cpu", "gpu", "gpu", "cpu",
                                                                 "cpu"]
    lock_key = f"{svc.settings.redis_key_prefix}:lock:project:{project_id}"
    assert svc.redis.get(lock_key) == job_id.encode()
    assert 0 < svc.redis.pttl(lock_key) <= svc.settings.project_lock_ttl * 1000

    busy = api.create_job(_body(project_id=project_id))
    assert busy.status_code == 409
    assert busy.json["error"]["code"] == "project_busy"

    svc.live.set(job_id, {"stage": "voice", "percent": "12"})
    assert api.get(f"/v1/jobs/{job_id}").json["progress"] == 12

    svc.locks.release(project_id, job_id)
    assert api.create_job(_body(project_id=project_id)).status_code == 202
