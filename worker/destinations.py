"""Where a finished video goes, behind one Protocol and one registry: the export copy (always;
the publish stage itself makes it), Postiz (each linked channel, exactly once) and the signed
webhook (the job's events). A profile chooses its destinations by configuring them.

Postiz and the webhook are not one call that either happened or not, as a copy is: each is a
row that moves through states and is resumed after a crash, so they run after the publish
stage has recorded the video, and the reconciler carries on with what has to wait.
"""

from __future__ import annotations

from typing import Any, Protocol

from store.services import Services
from worker.job_events import announce_job_end
from worker.postiz_delivery import advance_job, postiz_settings


class Destination(Protocol):
    """A place finished videos go."""

    name: str

    def wanted(self, options: dict[str, Any]) -> bool:
        """Whether the job's profile sends its videos here."""

    def deliver(self, services: Services, job_id: str) -> None:
        """Take the job's delivery here as far as it goes now (never raises)."""


class ExportDestination:
    """The export folder or bucket: the publish stage copies every video there."""

    name = "export"

    def wanted(self, options: dict[str, Any]) -> bool:
        """Always."""
        return True

    def deliver(self, services: Services, job_id: str) -> None:
        """Done by the stage already."""


class PostizDestination:
    """Each channel the profile links in its Postiz."""

    name = "postiz"

    def wanted(self, options: dict[str, Any]) -> bool:
        """A Postiz URL and at least one linked channel."""
        settings = postiz_settings(options)
        return bool(settings.get("base_url") and settings.get("integrations"))

    def deliver(self, services: Services, job_id: str) -> None:
        """Upload and post to each channel, resumable at every step."""
        advance_job(services, job_id)


class WebhookDestination:
    """The profile's webhook gets the job's end (and its batch's) as signed events."""

    name = "webhook"

    def wanted(self, options: dict[str, Any]) -> bool:
        """Always asked: the profile's URL is read when the event is queued."""
        return True

    def deliver(self, services: Services, job_id: str) -> None:
        """Queue and send job.succeeded or job.failed (and batch.completed)."""
        announce_job_end(services, job_id)


DESTINATIONS: tuple[Destination, ...] = (ExportDestination(), WebhookDestination(),
                                         PostizDestination())


def deliver_finished_job(services: Services, job_id: str, options: dict[str, Any]) -> None:
    """Every destination the job wants, in turn."""
    for destination in DESTINATIONS:
        if destination.wanted(options):
            destination.deliver(services, job_id)
