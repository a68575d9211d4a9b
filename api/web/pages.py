"""The pages of making videos: a new video, the list of videos, one video, and batches.

Each page is rendered whole on the server from the same functions the /v1 API answers with
(`job_public`, `batch_page`), so the first paint is complete; the page's script then keeps it
current from the API's Server-Sent Events and acts through the API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import g, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from api.batches import batch_page, batch_summary
from api.context import db_session, services
from api.errors import ApiError
from api.jobs import job_public
from api.profiles import profile_public
from api.web import options
from api.web.blueprint import bp
from api.web.session import signed_in_page
from store import jobs as job_store
from store.models import Batch, Job

JOBS_PAGE = 25
BATCHES_SCANNED = 200  # a batch's status is computed from its items: filter the newest few


def job_title(source: dict[str, Any]) -> str:
    """A line that names the video: its idea, title or product."""
    kind = source.get("type")
    if kind == "idea":
        text = str(source.get("idea") or "")
    elif kind == "script":
        scenes = source.get("scenes") or [{}]
        text = str(source.get("title") or scenes[0].get("narration") or "")
    elif kind == "clip":
        text = str((source.get("product") or {}).get("title") or "Clip")
    else:
        text = str(source.get("title") or source.get("name") or kind or "Video")
    text = " ".join(text.split())
    return text[:90] + "…" if len(text) > 90 else (text or "Untitled")


def _brand_names() -> dict[str, str]:
    return {profile.id: profile.name for profile in g.brands}


def _owned_job(job_id: str) -> Job:
    job = db_session().get(Job, job_id)
    if job is None or job.account_id != g.account.id:
        raise ApiError(404, "job_not_found", "There is no such video in this account.")
    return job


def _owned_batch(batch_id: str) -> Batch:
    batch = db_session().get(Batch, batch_id)
    if batch is None or batch.account_id != g.account.id:
        raise ApiError(404, "batch_not_found", "There is no such batch in this account.")
    return batch


def status_label(status: str | None) -> str:
    """A status as people read it."""
    return options.STATUS_LABELS.get(status or "", status or "")


def elapsed(stage: dict[str, Any]) -> str:
    """How long a stage ran (or has been running), as "4.2 s"."""
    started = stage.get("started_at")
    if not started:
        return "—"
    begin = datetime.fromisoformat(started.replace("Z", "+00:00"))
    finished = stage.get("finished_at")
    end = (datetime.fromisoformat(finished.replace("Z", "+00:00")) if finished
           else datetime.now(UTC))
    return f"{max(0.0, (end - begin).total_seconds()):.1f} s"


def when(moment: str | None) -> str:
    """An API time as "2026-12-01 09:30 UTC" (the page's script shows it in local time)."""
    if not moment:
        return "—"
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M UTC")


def source_label(source: dict[str, Any]) -> str:
    """What a batch reads: the feed's address, an uploaded file, or a collection."""
    if source.get("type") == "feed":
        return str(source.get("url") or "an uploaded feed")
    return str(source.get("title") or "a collection")


COUNT_LABELS = {"total": "Products", "queued": "Waiting", "running": "Being made",
                "succeeded": "Done", "failed": "Failed", "unchanged": "Unchanged",
                "skipped": "Skipped"}


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"options": options, "status_label": status_label, "elapsed": elapsed, "when": when,
            "source_label": source_label, "count_label": COUNT_LABELS.get,
            "batch_statuses": lambda: [(s, status_label(s)) for s in options.BATCH_STATUSES]}


@bp.get("/")
@signed_in_page
def new_video() -> ResponseReturnValue:
    """The form for a new video: idea, script, product, clip or feed."""
    brand = profile_public(g.brand) if g.brand is not None else None
    return render_template("web/new.html", brand=brand,
                 voices=options.voice_groups(services().settings),
                 presets=options.preset_choices())


@bp.get("/jobs")
@signed_in_page
def jobs_page() -> ResponseReturnValue:
    """The account's videos, newest first, filtered by status and brand."""
    status = request.args.get("status") or None
    if status not in (None, *job_store.JOB_STATUSES):
        status = None
    brand_id = request.args.get("brand") or None
    if brand_id is not None and brand_id not in _brand_names():
        brand_id = None
    before = None
    if request.args.get("before"):
        found = db_session().get(Job, request.args["before"])
        before = found if found is not None and found.account_id == g.account.id else None
    jobs, more = job_store.list_jobs(db_session(), g.account.id, limit=JOBS_PAGE,
                                     status=status, profile_id=brand_id, before=before)
    rows = [{"job": job_public(job), "title": job_title(job.source or {})} for job in jobs]
    return render_template("web/jobs.html", rows=rows, status=status, brand_id=brand_id,
                 brand_names=_brand_names(), next_before=jobs[-1].id if more else None)


@bp.get("/jobs/<job_id>")
@signed_in_page
def job_page(job_id: str) -> ResponseReturnValue:
    """One video: its stages as they run, its review, its result."""
    job = _owned_job(job_id)
    return render_template("web/job.html", job=job_public(job, with_costs=True),
                 title=job_title(job.source or {}), brand_names=_brand_names())


@bp.get("/batches")
@signed_in_page
def batches_page() -> ResponseReturnValue:
    """The account's batches, newest first, filtered by status and brand."""
    status = request.args.get("status") or None
    if status not in (None, *options.BATCH_STATUSES):
        status = None
    brand_id = request.args.get("brand") or None
    if brand_id is not None and brand_id not in _brand_names():
        brand_id = None
    query = select(Batch).where(Batch.account_id == g.account.id)
    if brand_id is not None:
        query = query.where(Batch.profile_id == brand_id)
    found = db_session().scalars(query.order_by(Batch.created_at.desc(), Batch.id.desc())
                                 .limit(BATCHES_SCANNED))
    summaries = [(batch, batch_summary(batch)) for batch in found]
    rows = [{"summary": summary, "source": batch.source or {}}
            for batch, summary in summaries if status is None or summary["status"] == status]
    return render_template("web/batches.html", rows=rows, status=status, brand_id=brand_id,
                 brand_names=_brand_names())


@bp.get("/batches/<batch_id>")
@signed_in_page
def batch_view(batch_id: str) -> ResponseReturnValue:
    """One batch: its counts and items, as they progress."""
    batch = _owned_batch(batch_id)
    return render_template("web/batch.html", batch=batch_page(batch), source=batch.source or {},
                 brand_names=_brand_names())
