"""A job's other files: its caption sidecars, and a fast draft of its video to look at.

`GET /v1/jobs/<id>/files/<file_name>` serves captions.srt, captions.vtt, captions.json and, once
made, preview.mp4 (Range requests work, as for the video). `POST /v1/jobs/<id>/preview`
renders the draft: half size, fast, from the same timeline as the final render, so it can be
watched before a long render or while the script is still being reviewed.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, url_for
from flask.typing import ResponseReturnValue

from api.auth import require_account
from api.context import services
from api.errors import ApiError
from api.jobs import _owned_job
from api.media_response import serve_object
from pipeline.render.compositor import render_timeline
from pipeline.tools import ToolError
from pipeline.types import StageError
from store.media import artifact_key
from worker.stages import JobInput, StageContext, job_timeline, render_options

bp = Blueprint("job_files", __name__, url_prefix="/v1/jobs")

PREVIEW_KEY = "preview"  # not in the job's artifacts: a key of its own, never a stage's write
# Each file a client may read, by name: the artifact it is, and its content type.
FILES = {
    "captions.srt": ("captions_srt", "application/x-subrip"),
    "captions.vtt": ("captions_vtt", "text/vtt"),
    "captions.json": ("captions_json", "application/json"),
    "preview.mp4": (PREVIEW_KEY, "video/mp4"),
}
PREVIEW_NEEDS = ("script", "voice_wav", "voiceover", "captions_ass")


def preview_key(job_id: str) -> str:
    """Where a job's draft is kept: beside its artifacts, but written only by this route, so
    that the job's own artifacts (which its worker writes) are never rewritten here."""
    return artifact_key(job_id, "preview", "preview.mp4")


@bp.get("/<job_id>/files/<file_name>")
@require_account
def get_file(job_id: str, file_name: str) -> ResponseReturnValue:
    """One of the job's files, once the stage that makes it has run."""
    job, name = _owned_job(job_id), file_name
    if name not in FILES:
        raise ApiError(404, "file_not_found",
                       f"no file {name!r}; a job has {', '.join(FILES)}")
    label, mimetype = FILES[name]
    key = (preview_key(job.id) if label == PREVIEW_KEY and services().media.exists(
        preview_key(job.id)) else (job.artifacts or {}).get(label))
    if not key:
        raise ApiError(409, "file_not_ready",
                       f"{name} is not made yet: the job is {job.status}"
                       + ("; POST /v1/jobs/<id>/preview makes it" if label == PREVIEW_KEY
                          else ""))
    return serve_object(services().media, key, mimetype=mimetype,
                        download_name=f"{job.id}-{name}")


@bp.post("/<job_id>/preview")
@require_account
def make_preview(job_id: str) -> ResponseReturnValue:
    """Render the job's draft now (a few seconds) and answer where to watch it."""
    job = _owned_job(job_id)
    artifacts = dict(job.artifacts or {})
    missing = [name for name in PREVIEW_NEEDS if name not in artifacts]
    if missing:
        raise ApiError(409, "preview_not_ready",
                       f"a draft needs the script, voice and captions: the job has no "
                       f"{', '.join(missing)} yet ({job.status})")
    snapshot = JobInput(job.id, job.preset, dict(job.source), dict(job.options or {}),
                        artifacts)
    svc = services()
    scratch = svc.media.scratch_dir(job.id, "preview")
    try:
        context = StageContext(svc.settings, svc.media, scratch, lambda fraction: None)
        local = scratch / "preview.mp4"
        render_timeline(job_timeline(context, snapshot), scratch / "work", local,
                        options=render_options(svc.settings, "draft"))
        svc.media.put_file(preview_key(job.id), local)
    except (StageError, ToolError) as exc:
        raise ApiError(422, "preview_failed", f"the draft could not be rendered: {exc}") \
            from None
    finally:
        svc.media.discard_scratch(scratch)
    return jsonify({"url": url_for("job_files.get_file", job_id=job.id, file_name="preview.mp4")})
