"""/v1/batches: a feed or collection made into one video per product, re-run safely."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from api import quotas
from api.auth import rate_limited, require_account
from api.context import db_session, dispatcher
from api.errors import ApiError
from api.jobs import chosen_preset, iso_time, job_options, list_limit, resolve_profile
from api.schemas import (
    MAPPING_FIELDS,
    MAX_COLLECTION_ITEMS,
    BatchCreate,
    CollectionSourceIn,
    FeedSourceIn,
    json_body,
)
from api.sources import checked_collection, is_http_url
from api.uploads import find_upload
from store import batches as batch_store
from store.models import Batch, Job

log = logging.getLogger(__name__)
bp = Blueprint("batches", __name__, url_prefix="/v1/batches")

ITEMS_PAGE_DEFAULT, ITEMS_PAGE_MAX = 100, 500
MAX_POSITION = 2**31 - 1  # batch_items.position is a 32-bit integer column


def _invalid(field: str, message: str, code: str = "invalid_field") -> ApiError:
    return ApiError(422, code, f"{field}: {message}", field)


def _feed_source(source: FeedSourceIn, body: BatchCreate) -> dict[str, Any]:
    if (source.url is None) == (source.upload_id is None):
        raise _invalid("source.url", "send either url (the feed's address) or upload_id (a "
                       "feed uploaded with POST /v1/uploads?kind=feed), not both or neither")
    stored: dict[str, Any] = {"type": "feed", "format": source.format}
    if source.currency:
        stored["currency"] = source.currency.upper()
    if source.url is not None:
        if not is_http_url(source.url):
            raise _invalid("source.url", "must be the feed's http(s) URL")
        stored["url"] = source.url
    else:
        meta = find_upload(g.account.id, source.upload_id or "")
        if meta is None or meta["kind"] != "feed":
            raise _invalid("source.upload_id", f"no feed upload {source.upload_id!r}; upload "
                           "the file with POST /v1/uploads?kind=feed", "unknown_upload")
        stored["upload_id"], stored["upload_key"] = meta["id"], meta["key"]
    mapping = body.mapping
    if source.format == "csv" and not mapping:
        raise _invalid("mapping", "a generic CSV needs a mapping from our fields to its "
                       f"columns, e.g. {{\"title\": \"Name\", \"price\": \"Cost\"}} (fields: "
                       f"{', '.join(MAPPING_FIELDS)})", "missing_field")
    if mapping:
        unknown = sorted(set(mapping) - set(MAPPING_FIELDS))
        if unknown:
            raise _invalid(f"mapping.{unknown[0]}", f"unknown field; use "
                           f"{', '.join(MAPPING_FIELDS)}", "unknown_field")
        if "title" not in mapping:
            raise _invalid("mapping.title", "the mapping must name the title column",
                           "missing_field")
    return stored


def _collection_source(source: CollectionSourceIn) -> tuple[dict[str, Any], dict[str, str]]:
    if source.mode == "compilation" and not 2 <= len(source.items) <= MAX_COLLECTION_ITEMS:
        raise _invalid("source.items", f"a compilation has 2 to {MAX_COLLECTION_ITEMS} items "
                       f"(got {len(source.items)})")
    return checked_collection(source)


@bp.post("")
@require_account
@rate_limited("jobs")
def create_batch() -> ResponseReturnValue:
    """Validate and store the batch, send its ingest; answer 202 at once (nothing is fetched
    or parsed in the request)."""
    body: BatchCreate = json_body(BatchCreate)
    limit = quotas.batch_item_limit(body.source, body.limit)
    image_keys: dict[str, str] = {}
    if isinstance(body.source, FeedSourceIn):
        source = _feed_source(body.source, body)
    else:
        source, image_keys = _collection_source(body.source)
    profile = resolve_profile(body)
    preset = chosen_preset(body, profile)
    # Each item's language is found from its own words unless the voice names one.
    base = job_options(body, profile, "")
    if not (body.voice and body.voice.language):
        base.pop("language", None)
    options = {"dry_run": body.dry_run, "limit": limit,
               "include_out_of_stock": body.include_out_of_stock, "mapping": body.mapping,
               "job": base, "image_keys": image_keys}
    session = db_session()
    batch = batch_store.create_batch(session, account_id=g.account.id, profile_id=profile.id,
                                     preset=preset, source=source, options=options)
    session.commit()
    try:
        dispatcher().ingest(batch.id)
    except Exception as exc:  # noqa: BLE001 - the batch must not stay queued for ever
        log.exception("could not enqueue batch %s", batch.id)
        batch_store.set_batch_state(session, batch.id, "failed",
                                    error=("broker_unavailable", f"not queued: {exc}"))
        session.commit()
        raise ApiError(503, "broker_unavailable",
                       "the job queue is unreachable; retry in a moment") from None
    location = url_for("batches.get_batch", batch_id=batch.id)
    return (jsonify({"id": batch.id, "status": "queued", "url": location}), 202,
            {"Location": location})


def _owned_batch(batch_id: str) -> Batch:
    batch = db_session().get(Batch, batch_id)
    if batch is None or batch.account_id != g.account.id:
        raise ApiError(404, "batch_not_found", f"no batch {batch_id!r}")
    return batch


def batch_summary(batch: Batch) -> dict[str, Any]:
    """A batch without its items: status, counts, what it read."""
    counts = batch_store.batch_counts(db_session(), batch.id)
    error = ({"code": batch.error_code, "message": batch.error_message}
             if batch.error_code else None)
    return {"id": batch.id, "status": batch_store.batch_status(batch, counts), "counts": counts,
            "parsed": batch.parsed, "format": batch.format, "preset": batch.preset,
            "profile_id": batch.profile_id, "dry_run": bool((batch.options or {}).get("dry_run")),
            "error": error, "created_at": iso_time(batch.created_at),
            "parsed_at": iso_time(batch.parsed_at),
            "url": url_for("batches.get_batch", batch_id=batch.id)}


def _reason(note: str | None, status: str, job: Job | None) -> str | None:
    """Why an item is as it is: its job's failure (with the item's own note after it)."""
    if job is not None and status == "failed" and job.error_stage:
        failure = f"{job.error_stage} stage failed: {job.error_message}"
        return f"{failure} ({note})" if note else failure
    return note


@bp.get("/<batch_id>")
@require_account
def get_batch(batch_id: str) -> ResponseReturnValue:
    """The batch with a page of its items; `next` is the URL of the next page."""
    batch = _owned_batch(batch_id)
    raw_after = request.args.get("after", "-1")
    digits = raw_after.removeprefix("-")
    # ASCII digits only ("²".isdigit() is true too), and within the column's range.
    if not (digits.isascii() and digits.isdigit()) or not -1 <= int(raw_after) <= MAX_POSITION:
        raise _invalid("after", "pass the position the previous page's next URL gives (a "
                       f"whole number from -1 to {MAX_POSITION})")
    limit = list_limit(ITEMS_PAGE_DEFAULT, ITEMS_PAGE_MAX)
    return jsonify(batch_page(batch, after=int(raw_after), limit=limit))


def batch_page(batch: Batch, *, after: int = -1, limit: int = ITEMS_PAGE_DEFAULT
               ) -> dict[str, Any]:
    """The batch's summary with the page of its items after position `after`."""
    page, more = batch_store.batch_items(db_session(), batch.id, after=after, limit=limit)
    items = [{"key": item.key, "title": item.title, "status": status, "job_id": item.job_id,
              "video_url": (url_for("jobs.get_job_video", job_id=job.id)
                            if job is not None and job.status == "succeeded" else None),
              "reason": _reason(item.reason, status, job)}
             for item, status, job in page]
    following = (url_for("batches.get_batch", batch_id=batch.id, after=page[-1][0].position,
                         limit=limit) if more else None)
    return {**batch_summary(batch), "items": items, "next": following}


@bp.get("")
@require_account
def list_batches() -> ResponseReturnValue:
    """The account's batches, newest first."""
    limit = list_limit()
    before = None
    if "before" in request.args:
        before = db_session().get(Batch, request.args["before"])
        if before is None or before.account_id != g.account.id:
            raise _invalid("before", f"no batch {request.args['before']!r}; pass the "
                           "next_before of the previous page")
    batches, more = batch_store.list_batches(db_session(), g.account.id, limit=limit,
                                             before=before)
    return jsonify({"batches": [batch_summary(b) for b in batches],
                    "next_before": batches[-1].id if more else None})
