"""/v1/jobs/<id>/script and /approve: a person reads, edits, regenerates and approves the
script of a job that stopped for review (store.review holds the rules; this is the HTTP)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from api.auth import require_account
from api.context import db_session, services
from api.errors import ApiError

# The jobs module's own lookup and lock: a review route finds and locks a job as they do.
from api.jobs import _lock_project, _owned_job, job_public, send_job
from api.schemas import ScriptEdit, ScriptRegenerate, json_body
from store import review
from store.jobs import AWAITING_REVIEW
from store.models import Job

bp = Blueprint("review", __name__, url_prefix="/v1/jobs")


def _not_awaiting(job_id: str, status: str) -> ApiError:
    return ApiError(409, "not_awaiting_review",
                    f"job {job_id} is {status}; only a job {AWAITING_REVIEW} can have its "
                    "script edited, regenerated or approved")


def _not_ready(job: Job) -> ApiError:
    return ApiError(409, "script_not_ready",
                    f"the script is not ready: the job is {job.status} and its script stage "
                    "has not written one yet")


@bp.get("/<job_id>/script")
@require_account
def get_script(job_id: str) -> ResponseReturnValue:
    """The job's current script: the script stage's, or the latest edit."""
    job = _owned_job(job_id)
    try:
        script = review.load_script(services().media, job)
    except review.ScriptNotReady:
        raise _not_ready(job) from None
    return jsonify(script.to_dict())


@bp.put("/<job_id>/script")
@require_account
def put_script(job_id: str) -> ResponseReturnValue:
    """Replace the script of a job awaiting review; the previous one stays in storage."""
    job = _owned_job(job_id)
    if job.status != AWAITING_REVIEW:
        raise _not_awaiting(job_id, job.status)
    body: ScriptEdit = json_body(ScriptEdit)
    session = db_session()
    # Accounts have one key each, so the account names the key too.
    editor = {"account_id": g.account.id, "via": "api"}
    try:
        script = review.store_edit(session, services().media, job.id,
                                   body.changes(), editor)
    except review.NotAwaitingReview as exc:  # approved or canceled meanwhile
        session.rollback()
        raise _not_awaiting(job_id, exc.status) from None
    session.commit()
    return jsonify(script.to_dict())


@bp.post("/<job_id>/approve")
@require_account
def approve_job(job_id: str) -> ResponseReturnValue:
    """Go on from the voice stage with the script as it is; the script is not written again."""
    job = _owned_job(job_id)
    try:
        review.approve(db_session(), job.id)
    except review.NotAwaitingReview as exc:
        db_session().rollback()
        raise _not_awaiting(job_id, exc.status) from None
    _lock_project(job)
    send_job(job, review.FIRST_STAGE_AFTER_REVIEW)
    return _accepted(job)


@bp.post("/<job_id>/script/regenerate")
@require_account
def regenerate_script(job_id: str) -> ResponseReturnValue:
    """Write the script again, whole or one scene (`{"scene": N}`); the job then awaits review
    again."""
    job = _owned_job(job_id)
    scene = json_body(ScriptRegenerate).scene if request.get_data().strip() else None
    session = db_session()
    try:
        review.reopen_script(session, services().media, job.id, scene)
    except review.NotAwaitingReview as exc:
        session.rollback()
        raise _not_awaiting(job_id, exc.status) from None
    except review.SceneOutOfRange as exc:
        session.rollback()
        raise ApiError(422, "invalid_field", f"scene: {exc}", "scene") from None
    except review.ScriptNotReady:
        session.rollback()
        raise _not_ready(job) from None
    _lock_project(job)
    send_job(job, review.SCRIPT_STAGE)
    return _accepted(job)


def _accepted(job: Job) -> ResponseReturnValue:
    location = url_for("jobs.get_job", job_id=job.id)
    return jsonify(job_public(job)), 202, {"Location": location}
