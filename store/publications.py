"""Publications: one row per (job, destination), unique by idempotency key, that remembers
how far delivering went (uploaded, being posted, posted with its id, published or failed).

Every step outside our walls is written down before the next one starts, so a publish
stage retried after a crash at any point knows what the destination already has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.models import Publication, new_id, utcnow

# Where a delivery stands. "posting": the post request may have gone out; a retry must look
# the post up before sending another.
PUBLICATION_STATES = ("pending", "uploaded", "posting", "queued", "published", "failed",
                      "rejected")
FINAL_STATES = ("published", "failed", "rejected")


@dataclass(frozen=True)
class PublicationState:
    """A publication as the publish stage reads and writes it."""

    key: str
    destination: str
    state: str = "pending"
    location: str | None = None
    post_id: str | None = None
    url: str | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _state(row: Publication) -> PublicationState:
    return PublicationState(key=row.idempotency_key, destination=row.destination,
                            state=row.state, location=row.location, post_id=row.post_id,
                            url=row.url, error=row.error, details=dict(row.details or {}))


def find_publication(session: Session, key: str) -> PublicationState | None:
    """The publication with this idempotency key, if it was started."""
    row = session.scalar(select(Publication).where(Publication.idempotency_key == key))
    return None if row is None else _state(row)


def save_publication(session: Session, job_id: str, update: PublicationState) -> None:
    """Write the publication's new state (the row is made the first time; a racing
    duplicate insert becomes an update)."""
    row = session.scalar(select(Publication).where(
        Publication.idempotency_key == update.key).with_for_update())
    if row is None:
        row = Publication(id=new_id("pub"), job_id=job_id, destination=update.destination,
                          idempotency_key=update.key)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            row = session.scalars(select(Publication).where(
                Publication.idempotency_key == update.key).with_for_update()).one()
    row.state = update.state
    row.location = update.location
    row.post_id = update.post_id
    row.url = update.url
    row.error = update.error
    row.details = update.details or None
    row.updated_at = utcnow()


def job_publications(session: Session, job_id: str) -> list[dict[str, Any]]:
    """The job's publications as the API shows them, oldest first."""
    rows = session.scalars(select(Publication).where(Publication.job_id == job_id)
                           .order_by(Publication.created_at, Publication.id))
    return [{"destination": row.destination, "state": row.state, "post_id": row.post_id,
             "url": row.url or (row.location if row.destination.startswith("export") else None),
             "error": row.error,
             "scheduled_for": (row.details or {}).get("date")} for row in rows]
