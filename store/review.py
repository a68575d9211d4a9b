"""A person approves the script: a job that asks for review stops after its script stage.

The API routes and `videofactory make --review` both go through these functions, so a job
moves through review the same way wherever the person sits. Callers validate an edit with
`api.schemas.ScriptEdit` first; nothing here knows about HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.sequence import STAGE_NAMES, overall_percent
from pipeline.types import Script
from store import jobs
from store.jobs import AWAITING_REVIEW
from store.media import MediaMissing, MediaStorage, artifact_key
from store.models import Job, utcnow

SCRIPT_STAGE, FIRST_STAGE_AFTER_REVIEW = STAGE_NAMES[0], STAGE_NAMES[1]


class NotAwaitingReview(ValueError):
    """Only a job awaiting review can be edited, approved or regenerated."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"job {job.id} is {job.status}, not {AWAITING_REVIEW}")
        self.status = job.status


class ScriptNotReady(LookupError):
    """The job's script stage has not written a script yet."""


class SceneOutOfRange(ValueError):
    """A regeneration named a scene the script does not have."""

    def __init__(self, scene: int, count: int) -> None:
        super().__init__(f"the script has scenes 0 to {count - 1}; there is no scene {scene}")
        self.count = count


def now_iso() -> str:
    """The current time as ISO 8601 in UTC with a Z, as the API shows times."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def wants_review(options: Mapping[str, Any] | None) -> bool:
    """Whether the job stops for a person's approval after its script."""
    return bool((options or {}).get("review"))


def hold_for_review(session: Session, job: Job) -> None:
    """Stop the job after its script stage succeeded, in that same transaction.

    The next stage stays pending with no message meant for it: the one a Celery chain sends
    anyway finds the job awaiting review and does nothing.
    """
    job.status = AWAITING_REVIEW
    job.current_stage = FIRST_STAGE_AFTER_REVIEW
    jobs.stage_row(session, job.id, FIRST_STAGE_AFTER_REVIEW).dispatched_at = None


def load_script(media: MediaStorage, job: Job) -> Script:
    """The job's current script (the stage's, or the latest edit); ScriptNotReady before."""
    key = (job.artifacts or {}).get("script")
    if not key:
        raise ScriptNotReady(f"job {job.id} has no script yet")
    try:
        return Script.from_dict(json.loads(media.read_bytes(key)))
    except MediaMissing:
        raise ScriptNotReady(f"the script of job {job.id} is no longer in media storage"
                             ) from None


def store_edit(session: Session, media: MediaStorage, job_id: str,
               changes: Mapping[str, Any], editor: Mapping[str, Any]) -> Script:
    """Store an edited script as a new media object and make it the job's script.

    `changes` are the fields a validated ScriptEdit was sent (`ScriptEdit.changes`): they
    replace the current script's (scenes whole), the others keep their values. The previous
    script stays in storage, and `editor` (who, through what) is recorded with the time in
    options["script_edits"].
    """
    job = _awaiting(session, job_id)
    current = load_script(media, job)
    script = Script.from_dict({**current.to_dict(), **changes})
    edits = list((job.options or {}).get("script_edits") or [])
    key = _edit_key(media, job_id, len(edits) + 1)
    media.put_bytes(key, json.dumps(script.to_dict(), ensure_ascii=False, indent=1).encode())
    edits.append({**editor, "at": now_iso(), "script": key})
    # New dicts, not changes in place: the JSON columns only notice assignments.
    job.options = {**(job.options or {}), "script_edits": edits}
    job.artifacts = {**(job.artifacts or {}), "script": key}
    return script


def approve(session: Session, job_id: str) -> Job:
    """Queue the approved job again from the stage after the script (which is not redone).

    The caller takes the project lock again and dispatches from FIRST_STAGE_AFTER_REVIEW.
    """
    job = _awaiting(session, job_id)
    job.status = "queued"
    job.current_stage = None
    jobs.stage_row(session, job_id, FIRST_STAGE_AFTER_REVIEW).dispatched_at = utcnow()
    jobs.write_progress(session, job_id, FIRST_STAGE_AFTER_REVIEW,
                        overall_percent(FIRST_STAGE_AFTER_REVIEW, 0.0), "approved")
    return job


def reopen_script(session: Session, media: MediaStorage, job_id: str,
                  scene: int | None) -> Job:
    """Queue the job to write its script again: the whole script, or one scene of it.

    The request goes into options["regenerate"] for the script stage to read; the current
    script stays the job's artifact, so a one-scene regeneration starts from it. Once the
    stage succeeds the job awaits review again. The caller takes the project lock and
    dispatches from the script stage.
    """
    job = _awaiting(session, job_id)
    if scene is not None:
        count = len(load_script(media, job).scenes)
        if not 0 <= scene < count:
            raise SceneOutOfRange(scene, count)
    job.options = {**(job.options or {}),
                   "regenerate": {"scene": scene, "requested_at": now_iso()}}
    row = jobs.stage_row(session, job_id, SCRIPT_STAGE)
    row.status = "pending"
    row.attempts = 0  # the reconciler counts lost workers per run, not per job
    row.worker = None
    row.started_at = row.finished_at = row.heartbeat_at = None
    row.error_code = row.error_message = None
    row.dispatched_at = utcnow()
    job.status = "queued"
    job.current_stage = None
    jobs.write_progress(session, job_id, SCRIPT_STAGE, 0, "regenerating the script")
    return job


def other_job_awaiting_review(session: Session, project_id: str, job_id: str) -> str | None:
    """The id of another job of the project that waits for review, if any."""
    return session.scalar(select(Job.id).where(Job.project_id == project_id,
                                               Job.status == AWAITING_REVIEW,
                                               Job.id != job_id).limit(1))


def _awaiting(session: Session, job_id: str) -> Job:
    job = jobs.locked_job(session, job_id)
    if job.status != AWAITING_REVIEW:
        raise NotAwaitingReview(job)
    return job


def _edit_key(media: MediaStorage, job_id: str, first: int) -> str:
    """The first `<job>/script/script-edit-<n>.json` not in storage, from n = first on (an
    edit whose commit failed left its object behind)."""
    n = first
    while media.exists(key := artifact_key(job_id, SCRIPT_STAGE, f"script-edit-{n}.json")):
        n += 1
    return key
