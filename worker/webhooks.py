"""Webhook deliveries: each event of a job, batch or publication is written once, then sent
to its profile's URL signed with the profile's secret, and retried with backoff for a day.

The row is the delivery log (`GET /v1/webhooks/deliveries`) and the retry queue at once: the
first attempt is made where the event happens, and the reconciler's pass sends whatever is
due after that, so a delivery survives any worker's death.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.publish.webhook import DeliveryAttempt, WebhookEvent, next_attempt_at, send_webhook
from store.db import session_scope
from store.jobs import aware
from store.models import Profile, WebhookDelivery, new_id, utcnow
from store.secrets import SecretBox, SecretsUnavailable, SecretUnreadable, profile_secret
from store.services import Services

log = logging.getLogger(__name__)

Sender = Callable[[str, WebhookEvent, str], DeliveryAttempt]


def queue_event(session: Session, profile: Profile | None, event: WebhookEvent,
                subject: str) -> WebhookDelivery | None:
    """Write the event for the profile's webhook, once per (event, subject); None when the
    profile has no webhook (or the event was queued before)."""
    if profile is None:
        return None
    url = ((profile.settings or {}).get("publish") or {}).get("webhook", {}).get("url")
    if not url:
        return None
    row = WebhookDelivery(id=new_id("whd"), account_id=profile.account_id,
                          profile_id=profile.id, event=event.type, subject=subject[:200],
                          url=url, body=event.body().decode(), status="pending", attempts=0,
                          next_attempt_at=utcnow())
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None  # raised again by a retried stage: it is queued already
    return row


def due_deliveries(session: Session, now: datetime, limit: int = 50) -> list[str]:
    """Ids of pending deliveries whose time has come, oldest first."""
    return list(session.scalars(
        select(WebhookDelivery.id).where(WebhookDelivery.status == "pending",
                                         WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at).limit(limit)))


def attempt_delivery(session: Session, delivery_id: str, box: SecretBox, send: Sender,
                     now: datetime) -> WebhookDelivery | None:
    """Send one due delivery (its row locked meanwhile, so two reconcilers never both send
    it) and record how it went: delivered, due again later, or failed for good."""
    row = session.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                         .with_for_update(skip_locked=True))
    if row is None or row.status != "pending":
        return None
    profile = session.get(Profile, row.profile_id) if row.profile_id else None
    secret = None
    try:
        secret = profile_secret(box, profile.settings or {}, "webhook_secret") if profile \
            else None
    except (SecretsUnavailable, SecretUnreadable) as exc:
        return _failed(row, f"the webhook secret cannot be read: {exc}")
    if not secret:
        return _failed(row, "the profile has no webhook secret: set publish.webhook.secret")
    attempt = send(row.url, WebhookEvent.from_body(row.body.encode()), secret)
    row.attempts += 1
    row.last_status = attempt.status
    row.last_error = attempt.error
    if attempt.delivered:
        row.status, row.delivered_at, row.next_attempt_at = "delivered", now, None
        return row
    following = next_attempt_at(aware(row.created_at) or now, row.attempts)
    if not attempt.retryable or following is None:
        return _failed(row, attempt.error or f"HTTP {attempt.status}")
    row.next_attempt_at = max(following, now + timedelta(seconds=1))
    return row


def _failed(row: WebhookDelivery, reason: str) -> WebhookDelivery:
    row.status, row.last_error, row.next_attempt_at = "failed", reason, None
    return row


def emit(services: Services, profile_id: str | None, event_type: str, subject: str,
         data: dict[str, Any]) -> None:
    """Queue the event for the profile's webhook (once per event and subject) and try it at
    once; the reconciler retries what did not go through. Never raises: a webhook must not
    fail the job it reports on."""
    try:
        with session_scope(services.sessions) as session:
            profile = session.get(Profile, profile_id) if profile_id else None
            row = queue_event(session, profile, WebhookEvent(event_type, data), subject)
            delivery_id = row.id if row is not None else None
        if delivery_id is not None:
            deliver(services, [delivery_id])
    except Exception:  # noqa: BLE001 - logged; the delivery row (if written) is retried
        log.exception("webhook %s for %s not sent", event_type, subject)


def deliver(services: Services, delivery_ids: list[str] | None = None) -> int:
    """Send the given deliveries, or every due one; how many were attempted."""
    box = SecretBox.from_settings(services.settings)
    allow = services.settings.fetch_allow_hosts

    def send(url: str, event: WebhookEvent, secret: str) -> DeliveryAttempt:
        return send_webhook(url, event, secret, allow_hosts=allow)

    with session_scope(services.sessions) as session:
        ids = delivery_ids if delivery_ids is not None else due_deliveries(session, utcnow())
    attempted = 0
    for delivery_id in ids:
        with session_scope(services.sessions) as session:
            if attempt_delivery(session, delivery_id, box, send, utcnow()) is not None:
                attempted += 1
    return attempted


def delivery_public(row: WebhookDelivery) -> dict[str, Any]:
    """A delivery as `GET /v1/webhooks/deliveries` shows it."""
    def iso(value: datetime | None) -> str | None:
        stamp = aware(value)
        return None if stamp is None else stamp.isoformat().replace("+00:00", "Z")

    return {"id": row.id, "event": row.event, "subject": row.subject, "url": row.url,
            "status": row.status, "attempts": row.attempts, "last_status": row.last_status,
            "last_error": row.last_error, "next_attempt_at": iso(row.next_attempt_at),
            "created_at": iso(row.created_at), "delivered_at": iso(row.delivered_at),
            "profile_id": row.profile_id}
