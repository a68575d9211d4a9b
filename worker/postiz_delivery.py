"""Finished videos posted through Postiz, exactly once per job and channel.

Each channel's publication row moves pending → uploaded → posting → queued → published (or
rejected by our checks, or failed at the platform), and every step is written down before
the next one goes out, under a kept lock, so that a worker killed at any point leaves a row
the next one continues from:

- pending: the checks run, then the upload; `uploaded` keeps the media id and path, so a
  retry never uploads twice;
- uploaded: a token from the organisation's shared bucket (none: the post waits, `pending`
  until the time the bucket names), then `posting` with the date is saved *before* the post;
- posting found by a later run: the request may have gone out, so the post is looked up by
  its channel and the invisible marker in its text before anything is sent again;
- queued: polled with backoff until Postiz says published or error.

The publish stage makes the rows; `advance_job` runs right after it, and the reconciler's
pass (`advance_due`) picks up whatever waits: a rate limit, a poll, a dead worker's row.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from pipeline.publish.checks import VideoInfo, check_for_platform
from pipeline.publish.postiz import PostizClient, PostizError, UploadedMedia
from pipeline.publish.postiz_posts import (
    PostPlan,
    build_request,
    caption_with_marker,
    content_marker,
    render_title,
)
from pipeline.publish.schedule import next_slots, parse_windows
from pipeline.types import Script
from store.db import session_scope
from store.jobs import aware
from store.models import Job, Publication, utcnow
from store.publications import (
    FINAL_STATES,
    PublicationState,
    find_publication,
    save_publication,
)
from store.secrets import SecretBox, SecretsUnavailable, SecretUnreadable
from store.services import Services
from worker.kept_lock import KeptLock
from worker.webhooks import emit

log = logging.getLogger(__name__)

DEFAULT_PER_HOUR = 90  # Postiz's own default API_LIMIT
POLL_DELAYS = (15, 30, 60, 120, 300, 600, 1800, 3600)  # seconds between state checks
POLL_FOR = timedelta(days=1)  # after the post's date, then it is left as it stands
DESTINATION_PREFIX = "postiz:"


def postiz_settings(options: dict[str, Any]) -> dict[str, Any]:
    """The job's Postiz settings (a copy of its profile's when it was made)."""
    return dict(((options.get("publish") or {}).get("postiz")) or {})


def publication_key(job_id: str, platform: str) -> str:
    """The idempotency key of a job's post to one platform."""
    return f"{job_id}:postiz:{platform}"


def plan_publications(services: Services, job_id: str) -> list[str]:
    """One pending publication per platform the job's profile links; their keys."""
    with session_scope(services.sessions) as session:
        job = session.get(Job, job_id)
        settings = postiz_settings(job.options or {}) if job else {}
        links = settings.get("integrations") or {}
        if not (settings.get("base_url") and links):
            return []
        keys = []
        for platform, integration_id in sorted(links.items()):
            key = publication_key(job_id, platform)
            keys.append(key)
            if find_publication(session, key) is None:
                save_publication(session, job_id, PublicationState(
                    key, DESTINATION_PREFIX + platform,
                    details={"platform": platform, "integration_id": integration_id}))
        return keys


def advance_job(services: Services, job_id: str) -> None:
    """Take each of the job's Postiz publications as far as it can go now. Never raises."""
    for key in plan_publications(services, job_id):
        advance(services, key)


def advance_due(services: Services, limit: int = 50) -> int:
    """The reconciler's share: publications whose wait is over (a rate limit, a poll, a dead
    worker's row). How many were taken further."""
    now = utcnow()
    with session_scope(services.sessions) as session:
        rows = session.scalars(select(Publication).where(
            Publication.destination.like(f"{DESTINATION_PREFIX}%"),
            Publication.state.not_in(FINAL_STATES)).order_by(Publication.updated_at)
            .limit(limit * 4))
        due = [row.idempotency_key for row in rows
               if _parse((row.details or {}).get("next_at")) is None
               or _parse((row.details or {}).get("next_at")) <= now][:limit]
    return sum(1 for key in due if advance(services, key) is not None)


def advance(services: Services, key: str) -> PublicationState | None:
    """One publication taken as far as it goes now, under its kept lock; None when another
    worker holds it or it is done. Never raises: a failure is written on the row."""
    lock = KeptLock(services, f"publication:{key}")
    if not lock.acquire():
        return None
    try:
        return _Delivery(services, key, lock).run()
    except Exception:  # noqa: BLE001 - logged; the row says where it stopped
        log.exception("publication %s did not advance", key)
        return None
    finally:
        lock.release()


class _Delivery:
    def __init__(self, services: Services, key: str, lock: KeptLock) -> None:
        self.services = services
        self.key = key
        self.lock = lock
        self.job_id = key.split(":", 1)[0]

    # --- the rows ----------------------------------------------------------------------

    def _load(self) -> tuple[PublicationState | None, Job | None]:
        with session_scope(self.services.sessions) as session:
            job = session.get(Job, self.job_id)
            if job is not None:
                session.expunge(job)
            return find_publication(session, self.key), job

    def _save(self, state: PublicationState) -> PublicationState:
        self.lock.check()  # a holder that lost the lock writes nothing
        with session_scope(self.services.sessions) as session:
            save_publication(session, self.job_id, state)
        return state

    # --- the steps ---------------------------------------------------------------------

    def run(self) -> PublicationState | None:
        state, job = self._load()
        if state is None or job is None or state.state in FINAL_STATES:
            return None
        settings = postiz_settings(job.options or {})
        try:
            client = self._client(settings, job)
        except _NotConfigured as exc:
            return self._finish(job, replace(state, state="failed", error=str(exc)))
        with client:
            for _ in range(4):  # pending → uploaded → posting → queued, at most
                before = state.state
                state = self._step(client, job, settings, state)
                if state.state in FINAL_STATES or state.state == before or _waiting(state):
                    break
        return state

    def _step(self, client: PostizClient, job: Job, settings: dict[str, Any],
              state: PublicationState) -> PublicationState:
        try:
            if state.state == "pending":
                return self._upload(client, job, state)
            if state.state in ("uploaded", "posting"):
                return self._post(client, job, settings, state)
            return self._poll(client, job, state)
        except PostizError as exc:
            # The step may have moved the row on (to "posting") before it failed: the row as
            # stored is what the next run must see, never the state this step began with.
            state = self._load()[0] or state
            if exc.transient:
                wait = exc.retry_after or 60.0
                details = {**state.details, "next_at": _iso(utcnow() + timedelta(seconds=wait)),
                           "last_error": exc.message}
                return self._save(replace(state, details=details))
            return self._finish(job, replace(state, state="failed",
                                             error=f"{exc.code}: {exc.message}"))

    def _upload(self, client: PostizClient, job: Job, state: PublicationState
                ) -> PublicationState:
        platform = state.details["platform"]
        video = self.services.media.fetch(job.artifacts["video"])
        caption, title = self._texts(job, platform)
        marked = caption_with_marker(caption, content_marker(self.key))
        problems = check_for_platform(platform, VideoInfo.from_probe(
            video, self.services.settings.ffprobe_binary), marked,
            title if platform == "youtube" else None)
        if problems:
            return self._finish(job, replace(state, state="rejected",
                                             error="; ".join(problems)))
        media = client.upload(video)
        return self._save(replace(state, state="uploaded", details={
            **state.details, "media": {"id": media.id, "path": media.path, "name": media.name},
            "caption": caption, "title": title}))

    def _post(self, client: PostizClient, job: Job, settings: dict[str, Any],
              state: PublicationState) -> PublicationState:
        details = state.details
        marker = content_marker(self.key)
        if state.state == "posting":
            # The last run may have sent it: look before sending again.
            date = _parse(details.get("date")) or utcnow()
            found = client.find_post(details["integration_id"], marker,
                                     date - timedelta(days=1), date + timedelta(days=1))
            if found is not None:
                return self._queued(state, found.id, date)
        wait = self._rate_limit(settings)
        if wait > 0:
            return self._save(replace(state, state="uploaded", details={
                **details, "next_at": _iso(utcnow() + timedelta(seconds=wait)),
                "waiting": "the Postiz organisation's posts per hour are used up"}))
        post_type = settings.get("type") or ("schedule" if settings.get("windows") else "now")
        date = self._date(settings, post_type, details)
        state = self._save(replace(state, state="posting", details={
            **details, "date": _iso(date), "type": post_type, "next_at": None}))
        media = UploadedMedia(**details["media"])
        platform = details["platform"]
        created = client.create_post(build_request(PostPlan(
            platform=platform, integration_id=details["integration_id"], post_type=post_type,
            date=date, caption=details.get("caption", ""), media=(media,),
            title=details.get("title", ""), settings=_platform_settings(settings, platform),
            marker=marker)))
        return self._queued(state, created[0].post_id if created else "", date)

    def _queued(self, state: PublicationState, post_id: str, date: datetime
                ) -> PublicationState:
        first_poll = max(date, utcnow()) + timedelta(seconds=POLL_DELAYS[0])
        return self._save(replace(state, state="queued", post_id=post_id, details={
            **state.details, "polls": 0, "next_at": _iso(first_poll)}))

    def _poll(self, client: PostizClient, job: Job, state: PublicationState
              ) -> PublicationState:
        details = state.details
        if details.get("type") == "draft":
            return state  # a draft waits in Postiz for a person; nothing will publish it
        date = _parse(details.get("date")) or utcnow()
        posts = client.posts(date - timedelta(days=1), date + timedelta(days=1))
        post = next((p for p in posts if p.id == state.post_id), None)
        if post is not None and post.state == "PUBLISHED":
            return self._finish(job, replace(state, state="published", url=post.release_url))
        if post is not None and post.state == "ERROR":
            return self._finish(job, replace(state, state="failed",
                                             error="Postiz could not publish the post"))
        polls = int(details.get("polls") or 0) + 1
        if utcnow() > date + POLL_FOR:
            return self._save(replace(state, details={**details, "polls": polls,
                                                      "next_at": None}))
        delay = POLL_DELAYS[min(polls, len(POLL_DELAYS) - 1)]
        return self._save(replace(state, details={
            **details, "polls": polls, "next_at": _iso(utcnow() + timedelta(seconds=delay))}))

    def _finish(self, job: Job, state: PublicationState) -> PublicationState:
        state = self._save(replace(state, details={**state.details, "next_at": None}))
        event = "publication.published" if state.state == "published" else "publication.failed"
        emit(self.services, job.profile_id, event, self.key,
             {"job_id": job.id, "destination": state.destination, "state": state.state,
              "post_id": state.post_id, "url": state.url, "error": state.error})
        return state

    # --- what the steps need -----------------------------------------------------------

    def _client(self, settings: dict[str, Any], job: Job) -> PostizClient:
        sealed = (job.options.get("secrets") or {}).get("postiz_api_key")
        if not (settings.get("base_url") and sealed):
            raise _NotConfigured("the profile has no Postiz base_url and api_key")
        try:
            key = SecretBox.from_settings(self.services.settings).open(sealed)
        except (SecretsUnavailable, SecretUnreadable) as exc:
            raise _NotConfigured(f"the Postiz key cannot be read: {exc}") from None
        return PostizClient(settings["base_url"], key,
                            allow_hosts=self.services.settings.fetch_allow_hosts)

    def _texts(self, job: Job, platform: str) -> tuple[str, str]:
        """The post's caption (the caption template filled in) and YouTube title."""
        script = Script.from_dict(_json(self.services, job.artifacts["script"]))
        settings = postiz_settings(job.options or {})
        tags = [*script.hashtags, *(f"#{tag}" for tag in job.options.get("hashtags") or ())]
        hashtags = " ".join(dict.fromkeys(tag if tag.startswith("#") else f"#{tag}"
                                          for tag in tags))
        notes = _json(self.services, job.artifacts["notes"]) if "notes" in job.artifacts else {}
        caption = (settings.get("caption_template") or "{caption} {hashtags}").format_map(
            {"caption": script.caption or script.title, "hashtags": hashtags,
             "title": script.title})
        if notes.get("credit"):
            caption = f"{caption.strip()}\n{notes['credit']}"
        brand = ((job.options.get("brand") or {}).get("name")) or script.end_title
        title = render_title((settings.get("youtube") or {}).get("title_template")
                             or "{title}", {"title": script.title, "brand": brand or ""})
        return " ".join(caption.split(" ")).strip(), title

    def _rate_limit(self, settings: dict[str, Any]) -> float:
        organisation = hashlib.sha256(str(settings.get("base_url")).encode()).hexdigest()[:16]
        return self.services.rate_limits.take(
            f"postiz:{organisation}", capacity=int(settings.get("per_hour") or DEFAULT_PER_HOUR),
            per_seconds=3600)

    def _date(self, settings: dict[str, Any], post_type: str, details: dict[str, Any]
              ) -> datetime:
        now = utcnow()
        if post_type != "schedule" or not settings.get("windows"):
            return now
        with session_scope(self.services.sessions) as session:
            taken = [_parse((row.details or {}).get("date")) for row in session.scalars(
                select(Publication).where(Publication.destination ==
                                          DESTINATION_PREFIX + details["platform"],
                                          Publication.state.in_(("posting", "queued"))))
                     if (row.details or {}).get("integration_id") == details["integration_id"]]
        slots = next_slots(now, 1, parse_windows(settings["windows"]),
                           settings.get("timezone") or "UTC",
                           daily_limit=int(settings.get("daily_limit") or 24),
                           taken=[moment for moment in taken if moment and moment > now])
        return slots[0]


class _NotConfigured(Exception):
    pass


def _platform_settings(settings: dict[str, Any], platform: str) -> dict[str, Any]:
    """The profile's per-platform choices in Postiz's own names."""
    own = dict(settings.get(platform) or {})
    if platform == "youtube":
        mapped: dict[str, Any] = {}
        if own.get("visibility"):
            mapped["type"] = own["visibility"]
        if "made_for_kids" in own:
            mapped["selfDeclaredMadeForKids"] = "yes" if own["made_for_kids"] else "no"
        return mapped
    return own


def _waiting(state: PublicationState) -> bool:
    at = _parse(state.details.get("next_at"))
    return at is not None and at > utcnow()


def _json(services: Services, key: str) -> dict[str, Any]:
    import json

    data = json.loads(services.media.read_bytes(key))
    return data if isinstance(data, dict) else {}


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return aware(datetime.fromisoformat(str(value)))
    except ValueError:
        return None
