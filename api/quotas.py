"""The account's quotas, checked before a job or a batch is written (see store/quotas.py)."""

from __future__ import annotations

from flask import g
from sqlalchemy import select

from api.context import db_session, services
from api.errors import ApiError
from api.schemas import ClipSourceIn, CollectionSourceIn, ScriptSourceIn
from api.sources import AnySourceIn, CheckedSource
from pipeline.render.timeline import END_CARD_SECONDS
from store.models import Account
from store.quotas import Quotas, account_quotas, running_jobs
from worker.stages import target_seconds

# Our voices' usual pace, to tell how long a script lasts before it is spoken.
SPOKEN_WORDS_PER_SECOND = 2.5
RUNNING_RETRY_SECONDS = 30  # a short video takes about this long; then try again


def quotas() -> Quotas:
    """The requesting account's quotas."""
    return account_quotas(g.account, services().settings)


def check_running_jobs() -> None:
    """429 quota_exceeded when the account already has its most jobs queued or running."""
    limit = quotas().running_jobs
    if not limit:
        return
    session = db_session()
    # The account's row stays locked until the job is committed, so that two requests at
    # once cannot both take the last place (Postgres; SQLite runs one writer at a time).
    session.execute(select(Account.id).where(Account.id == g.account.id).with_for_update())
    if running_jobs(session, g.account.id) >= limit:
        raise ApiError(429, "quota_exceeded",
                       f"running_jobs: this account may have {limit} jobs queued or running at "
                       "once; wait for some to finish, or cancel some", "running_jobs",
                       headers={"Retry-After": str(RUNNING_RETRY_SECONDS)})


def estimated_seconds(source: AnySourceIn, checked: CheckedSource, preset: str,
                      speed: float = 1.0) -> float:
    """How long the video will be: a user's script at our voices' pace, a clip kept whole
    with its own speech at its length, anything written for the user at the preset's target."""
    if isinstance(source, ScriptSourceIn):
        words = sum(len(scene.narration.split()) for scene in source.scenes)
        return words / (SPOKEN_WORDS_PER_SECOND * speed) + END_CARD_SECONDS
    if isinstance(source, ClipSourceIn) and source.transcribe:
        media = checked.options.get("media") or [{}]
        return float(media[0].get("duration") or 0.0)
    return target_seconds(preset) + END_CARD_SECONDS


def check_video_seconds(seconds: float, field: str) -> None:
    """422 quota_exceeded when the video would be longer than the account may make."""
    limit = quotas().video_seconds
    if limit and seconds > limit:
        raise ApiError(422, "quota_exceeded",
                       f"{field}: this video would last about {seconds:.0f} s; this account's "
                       f"videos may last at most {limit} s (video_seconds): shorten it", field)


def batch_item_limit(source: object, requested: int | None) -> int:
    """How many items the batch may make: the request's `limit` within the account's quota;
    422 quota_exceeded for a larger `limit` or collection."""
    limit = quotas().batch_items
    if requested is not None and requested > limit:
        raise ApiError(422, "quota_exceeded",
                       f"limit: this account's batches may make at most {limit} items "
                       "(batch_items); send a smaller limit", "limit")
    if isinstance(source, CollectionSourceIn) and len(source.items) > limit:
        raise ApiError(422, "quota_exceeded",
                       f"source.items: {len(source.items)} items; this account's batches may "
                       f"make at most {limit} (batch_items): split the collection",
                       "source.items")
    return min(requested or limit, limit)
