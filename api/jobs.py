"""/v1/jobs: submit a generation, watch it, download its video."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from api import quotas
from api.auth import rate_limited, require_account
from api.context import db_session, dispatcher, services
from api.errors import ApiError
from api.media_response import serve_object
from api.profiles import brand_snapshot
from api.schemas import BatchCreate, IdeaSourceIn, JobCreate, json_body
from api.sources import CheckedSource, check_source, media_items
from pipeline.render.presets import DEFAULT_PRESET, PRESETS
from pipeline.sequence import STAGE_NAMES
from pipeline.sources.product import html_to_text
from pipeline.text.clean import clean_text
from pipeline.text.language import detect_language
from pipeline.types import Script, StageError
from store import jobs as job_store
from store import review
from store.accounts import default_profile, owned_profile
from store.costs import job_costs
from store.media import MediaMissing
from store.models import Job, Profile, Project
from store.publications import job_publications
from store.settings import Settings
from worker.execution import release_project_lock
from worker.routing import STAGE_QUEUES
from worker.stages import (
    job_voice_options,
    post_caption,
    resolve_voice,
    script_notes,
    voice_defaults,
)

log = logging.getLogger(__name__)
bp = Blueprint("jobs", __name__, url_prefix="/v1/jobs")


def iso_time(value: datetime | None) -> str | None:
    """A stored time as ISO 8601 in UTC with a Z, as every answer shows times."""
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive datetimes; we store UTC
        value = value.replace(tzinfo=UTC)
    return value.isoformat().replace("+00:00", "Z")


def chosen_preset(body: JobCreate | BatchCreate, profile: Profile) -> str:
    """The request's preset, else the profile's default, else tiktok; 422 for an unknown one."""
    preset = body.preset or (profile.settings or {}).get("preset") or DEFAULT_PRESET
    if preset not in PRESETS:
        field = "preset" if body.preset else "profile.preset"
        raise ApiError(422, "unknown_preset",
                       f"{field}: unknown preset {preset!r}; use one of {', '.join(PRESETS)}",
                       field)
    return preset


def _validated_job_request() -> tuple[JobCreate, CheckedSource]:
    body: JobCreate = json_body(JobCreate)
    checked = check_source(body.source, services().settings.max_idea_chars)
    if isinstance(body.source, IdeaSourceIn) and body.source.media:
        checked.options["media"] = media_items(body.source.media)
    return body, checked


def job_options(body: JobCreate | BatchCreate, profile: Profile, text: str) -> dict[str, Any]:
    """Request options over the profile's; the voice is checked against the language now."""
    stored = profile.settings or {}
    voice = {**(stored.get("voice") or {}),
             **(body.voice.model_dump(exclude_none=True) if body.voice else {})}
    captions = {**(stored.get("captions") or {}),
                **(body.captions.model_dump(exclude_none=True) if body.captions else {})}
    language = voice.get("language") or detect_language(clean_text(html_to_text(text)))
    settings = services().settings
    try:
        resolve_voice(job_voice_options(settings, {"voice": voice}), language,
                      voice_defaults(settings))
    except StageError as exc:
        field = "voice.voice" if voice.get("voice") else "voice.engine"
        raise ApiError(422, exc.code, f"{field}: {exc.message}", field) from None
    options: dict[str, Any] = {"language": language, "voice": voice, "captions": captions}
    quality = body.quality or stored.get("quality")
    if quality:
        options["quality"] = quality
    if isinstance(body, JobCreate):
        # A batch's items never stop for review: thousands of jobs would wait on a person.
        options["review"] = (body.review if body.review is not None
                             else bool(stored.get("review")))
    if stored.get("call_to_action"):
        options["call_to_action"] = stored["call_to_action"]
    if stored.get("music_volume_db") is not None:
        options["music_volume_db"] = stored["music_volume_db"]
    brand = brand_snapshot(profile)
    if brand:
        options["brand"] = brand
    options.update(content_options(body, stored, settings))
    return options


def content_options(body: JobCreate | BatchCreate, stored: dict[str, Any],
                    settings: Settings) -> dict[str, Any]:
    """How the script is written and what it is shown over: the request over the profile.

    The profile's secrets travel sealed (the stage opens them), so a later change of the
    profile does not change a job already made.
    """
    script = {**(stored.get("script") or {}),
              **(body.script.model_dump(exclude_none=True) if body.script else {})}
    llm = dict(stored.get("llm") or {})
    secrets = dict(stored.get("secrets") or {})
    llm_ready = bool((llm.get("base_url") or settings.llm_base_url)
                     and (llm.get("model") or settings.llm_model))
    if script.get("generator") == "llm" and not llm_ready:
        raise ApiError(422, "llm_not_configured",
                       "script.generator: no LLM is configured; set LLM_BASE_URL and LLM_MODEL "
                       "on the server, or the profile's llm.base_url and llm.model, or use "
                       "generator template", "script.generator")
    visuals = body.visuals or stored.get("visuals") or "auto"
    stock_ready = bool(settings.pexels_api_key or settings.pixabay_api_key
                       or secrets.get("pexels_api_key") or secrets.get("pixabay_api_key"))
    if visuals == "stock" and not stock_ready:
        raise ApiError(422, "stock_not_configured",
                       "visuals: no stock provider is configured; set PEXELS_API_KEY or "
                       "PIXABAY_API_KEY, or the profile's pexels_api_key or pixabay_api_key",
                       "visuals")
    options: dict[str, Any] = {"script": script, "visuals": visuals}
    if llm:
        options["llm"] = llm
    # Where the finished video is posted, as the profile says now.
    for name in ("publish", "hashtags"):
        if stored.get(name):
            options[name] = stored[name]
    if secrets:
        options["secrets"] = secrets
    return options


def resolve_profile(body: JobCreate | BatchCreate) -> Profile:
    """The body's profile_id, else the X-Profile-Id header, else the account's default."""
    account_id = g.account.id
    requested = body.profile_id or request.headers.get("X-Profile-Id")
    if requested:
        field = "profile_id" if body.profile_id else "X-Profile-Id"
        profile = db_session().get(Profile, requested)
        if profile is None:
            raise ApiError(404, "profile_not_found", f"{field}: no profile {requested!r}", field)
        if profile.account_id != account_id:  # nothing about it may show
            raise ApiError(403, "profile_forbidden",
                           f"{field}: this profile belongs to another account", field)
        return profile
    profile = default_profile(db_session(), account_id)
    if profile is None:
        raise ApiError(503, "no_default_profile",
                       "this account has no default profile: pass profile_id, or make one the "
                       "default with POST /v1/profiles/<id>/default")
    return profile


def _resolve_project(body: JobCreate, profile: Profile, text: str) -> Project:
    session = db_session()
    if body.project_id is None:
        name = clean_text(html_to_text(text)).strip()[:80] or "Untitled"
        return job_store.create_project(session, profile.id, name)
    project = session.get(Project, body.project_id)
    if project is None or owned_profile(session, g.account.id, project.profile_id) is None:
        raise ApiError(404, "project_not_found", f"project_id: no project {body.project_id!r}",
                       "project_id")
    if project.profile_id != profile.id and (body.profile_id or
                                              request.headers.get("X-Profile-Id")):
        raise ApiError(422, "profile_mismatch",
                       "project_id: the project belongs to another profile", "project_id")
    return project


@bp.post("")
@require_account
@rate_limited("jobs")
def create_job() -> ResponseReturnValue:
    """Validate, write the job, take the project lock, enqueue; answer 202 at once."""
    body, checked = _validated_job_request()
    session = db_session()
    profile = resolve_profile(body)
    project = _resolve_project(body, profile, checked.text)
    if project.profile_id != profile.id:  # an existing project keeps its own profile
        profile = session.get(Profile, project.profile_id) or profile
    preset = chosen_preset(body, profile)
    options = {**job_options(body, profile, checked.text), **checked.options}
    speed = float((options.get("voice") or {}).get("speed") or 1.0)
    quotas.check_video_seconds(quotas.estimated_seconds(body.source, checked, preset, speed),
                               "source")
    quotas.check_running_jobs()
    job = job_store.create_job(
        session, account_id=g.account.id, profile_id=profile.id, project_id=project.id,
        source=checked.stored, preset=preset, queues=STAGE_QUEUES, options=options,
    )
    _lock_project(job)
    return _enqueue(job, STAGE_NAMES[0])


def _lock_project(job: Job) -> None:
    svc = services()
    project_id, job_id = job.project_id, job.id  # the rollback below expires the job's attributes
    if project_id is None:
        raise ApiError(409, "profile_deleted",
                       f"job {job_id} belonged to a profile that was deleted; submit it again "
                       "as a new job")
    if not svc.locks.acquire(project_id, job_id, svc.settings.project_lock_ttl):
        db_session().rollback()
        holder = svc.locks.holder(project_id)
        raise ApiError(409, "project_busy",
                       f"project {project_id} is already generating (job {holder}); wait "
                       "for it to finish or submit without project_id", "project_id")
    # A job awaiting review holds no lock (a review may take days), so the database says it.
    # Asked after taking the lock: a job commits awaiting_review before it frees the lock,
    # so of two racing requests one always sees the other.
    waiting = review.other_job_awaiting_review(db_session(), project_id, job_id)
    if waiting is not None:
        svc.locks.release(project_id, job_id)
        db_session().rollback()
        raise ApiError(409, "project_busy",
                       f"project {project_id} has a job waiting for review of its script (job "
                       f"{waiting}); approve or cancel it first, or submit without project_id",
                       "project_id")


def _enqueue(job: Job, from_stage: str) -> ResponseReturnValue:
    """Commit the queued job (its project lock held), send it, answer 202."""
    send_job(job, from_stage)
    location = url_for("jobs.get_job", job_id=job.id)
    response = jsonify({"id": job.id, "status": "queued", "project_id": job.project_id,
                        "profile_id": job.profile_id, "url": location,
                        "from_stage": from_stage})
    return response, 202, {"Location": location}


def send_job(job: Job, from_stage: str) -> None:
    """Commit the queued job (its project lock held) and dispatch it from `from_stage`; a
    broker that cannot take it fails the job there and answers 503."""
    session, svc = db_session(), services()
    job_id, project_id = job.id, job.project_id  # a failed commit leaves the job unreadable
    try:
        session.commit()
    except Exception:
        svc.locks.release(project_id, job_id)
        raise
    try:
        dispatcher().dispatch(job.id, None if from_stage == STAGE_NAMES[0] else from_stage)
    except Exception as exc:  # noqa: BLE001 - the job must not stay queued forever
        log.exception("could not enqueue job %s", job.id)
        job_store.mark_stage_failed(session, job.id, from_stage, "broker_unavailable",
                                    f"the job could not be queued: {exc}")
        session.commit()
        svc.locks.release(job.project_id, job.id)
        raise ApiError(503, "broker_unavailable",
                       "the job queue is unreachable; retry in a moment") from None


@bp.post("/<job_id>/retry")
@require_account
def retry_job(job_id: str) -> ResponseReturnValue:
    """Run a failed or canceled job again from the stage it stopped in; earlier stages keep
    their work."""
    job = _owned_job(job_id)
    if job.status not in ("failed", "canceled"):
        raise ApiError(409, "job_not_failed",
                       f"only a failed or canceled job can be retried; job {job_id} is "
                       f"{job.status}")
    quotas.check_running_jobs()
    _lock_project(job)
    stage = job_store.reopen_job(db_session(), job.id)
    return _enqueue(job, stage)


@bp.delete("/<job_id>")
@require_account
def cancel_job(job_id: str) -> ResponseReturnValue:
    """Cancel a queued or running job: a queued one never runs, a running stage stops (its
    heartbeat sees the cancel within seconds), nothing is published; answer 202 with it."""
    job = _owned_job(job_id)
    session = db_session()
    try:
        job_store.cancel_job(session, job.id)
    except job_store.JobFinished as exc:
        session.rollback()
        raise ApiError(409, "job_finished",
                       f"job {job_id} already ended ({exc.status}); only a queued or running "
                       "job can be canceled") from None
    session.commit()
    release_project_lock(services(), job.id, job.project_id)
    return jsonify(job_public(job)), 202


def _owned_job(job_id: str) -> Job:
    job = db_session().get(Job, job_id)
    if job is None or job.account_id != g.account.id:
        # Another account's job is "not found" too: ids reveal nothing.
        raise ApiError(404, "job_not_found", f"no job {job_id!r}")
    return job


def _review_fields(job: Job) -> dict[str, Any]:
    """Whether the job stops for review, and while it waits, where to read and approve."""
    waiting = job.status == job_store.AWAITING_REVIEW
    return {
        "review": review.wants_review(job.options),
        "script_url": url_for("review.get_script", job_id=job.id) if waiting else None,
        "approve_url": url_for("review.approve_job", job_id=job.id) if waiting else None,
        "script_edits": list((job.options or {}).get("script_edits") or []),
    }


def job_public(job: Job, *, with_costs: bool = False) -> dict[str, Any]:
    """The JSON form of a job (JobPublic); `with_costs` adds its usage rows (one query more,
    left out of lists)."""
    stages = {
        row.name: {
            "status": row.status,
            "queue": row.queue,
            "worker": row.worker,
            "attempts": row.attempts,
            "started_at": iso_time(row.started_at),
            "finished_at": iso_time(row.finished_at),
            "error": ({"code": row.error_code, "message": row.error_message}
                      if row.error_code else None),
        }
        for row in job.stages
    }
    error = None
    if job.status == "failed":
        error = {"stage": job.error_stage, "code": job.error_code,
                 "message": f"{job.error_stage} stage failed: {job.error_message}"}
    return {
        "id": job.id,
        "status": job.status,
        "progress": job_store.job_percent(db_session(), services().live, job),
        "stage": job.current_stage,
        "stages": stages,
        "error": error,
        **_review_fields(job),
        "preset": job.preset,
        "source": job.source,
        "project_id": job.project_id,
        "profile_id": job.profile_id,
        "created_at": iso_time(job.created_at),
        "started_at": iso_time(job.started_at),
        "finished_at": iso_time(job.finished_at),
        "video_url": url_for("jobs.get_job_video", job_id=job.id)
        if job.status == "succeeded" else None,
        # What the job used: each LLM call and local stage, and the money in all.
        **({"costs": job_costs(db_session(), job.id), "content": _content(job),
            "publications": job_publications(db_session(), job.id)} if with_costs else {}),
    }


def _content(job: Job) -> dict[str, Any]:
    """Who wrote the script, its warnings, why each scene shows what it shows, and the stock
    footage's licences and authors (once the script stage has run)."""
    artifacts = dict(job.artifacts or {})
    notes = script_notes(services().media, artifacts)
    return {"generator": notes.get("generator"), "warnings": notes.get("warnings", []),
            "visuals": notes.get("visuals", []), "attribution": notes.get("attribution", []),
            "post_caption": _post_caption(artifacts, notes)}


def _post_caption(artifacts: dict[str, str], notes: dict[str, Any]) -> str | None:
    """What is posted with the video (caption, hashtags, credits), once there is a script."""
    if "script" not in artifacts:
        return None
    try:
        script = Script.from_dict(json.loads(services().media.read_bytes(artifacts["script"])))
    except (MediaMissing, ValueError, KeyError, TypeError):
        return None
    return post_caption(script, notes.get("credit") or "")


LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX = 20, 100
_LIST_PARAMETERS = ("status", "profile_id", "project_id", "limit", "before")


def list_limit(default: int = LIST_LIMIT_DEFAULT, maximum: int = LIST_LIMIT_MAX) -> int:
    """The `limit` query parameter: a page size from 1 to `maximum`."""
    raw = request.args.get("limit", str(default))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise ApiError(422, "invalid_field",
                       f"limit: a whole number from 1 to {maximum} (got {raw!r})", "limit")
    return int(raw)


@bp.get("")
@require_account
def list_jobs() -> ResponseReturnValue:
    """The account's jobs, newest first; filter by status, profile or project; page on."""
    for name in request.args:
        if name not in _LIST_PARAMETERS:
            raise ApiError(422, "unknown_field", f"{name}: unknown query parameter; use "
                           f"{', '.join(_LIST_PARAMETERS)}", name)
    status = request.args.get("status")
    if status is not None and status not in job_store.JOB_STATUSES:
        raise ApiError(422, "invalid_field", f"status: must be one of "
                       f"{', '.join(job_store.JOB_STATUSES)} (got {status!r})", "status")
    limit = list_limit()
    before = None
    if "before" in request.args:
        before = db_session().get(Job, request.args["before"])
        if before is None or before.account_id != g.account.id:
            raise ApiError(422, "invalid_field", f"before: no job {request.args['before']!r}; "
                           "pass the next_before of the previous page", "before")
    jobs, more = job_store.list_jobs(
        db_session(), g.account.id, limit=limit, status=status, before=before,
        profile_id=request.args.get("profile_id"), project_id=request.args.get("project_id"))
    return jsonify({"jobs": [job_public(job) for job in jobs],
                    "next_before": jobs[-1].id if more else None})


@bp.get("/<job_id>")
@require_account
def get_job(job_id: str) -> ResponseReturnValue:
    """Status, progress, every stage and the costs of a job."""
    return jsonify(job_public(_owned_job(job_id), with_costs=True))


@bp.get("/<job_id>/video")
@require_account
def get_job_video(job_id: str) -> ResponseReturnValue:
    """The finished MP4; Range requests get 206 partial content (ranged reads from the store),
    or, with MEDIA_PRESIGN, a 302 to a presigned URL of the bucket."""
    job = _owned_job(job_id)
    key = (job.artifacts or {}).get("video")
    if job.status != "succeeded" or not key:
        raise ApiError(409, "video_not_ready",
                       f"the video is not ready: the job is {job.status}")
    svc = services()
    return serve_object(svc.media, key, mimetype="video/mp4", download_name=f"{job.id}.mp4",
                        presign=svc.settings.media_presign)
