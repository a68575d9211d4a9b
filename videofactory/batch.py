"""`videofactory batch`: a product feed made into one video per product, with live progress.

Embedded (no REDIS_URL) the feed is read and every video made in this process; against a
fleet the batch is written and its ingest sent to the cpu pool, and this command only
watches. Either way the report at the end is the same one GET /v1/batches/<id> gives.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from store import batches as batch_store
from store.db import session_scope
from store.migrate import upgrade
from store.models import Batch, Profile
from store.services import Services, build_services
from store.settings import Settings
from videofactory.make import local_account_ids

POLL_SECONDS = 0.5


def _feed_source(services: Services, feed: str, feed_format: str) -> dict[str, Any]:
    if feed.startswith(("http://", "https://")):
        return {"type": "feed", "url": feed, "format": feed_format}
    path = Path(feed).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{feed}: no such file (give a feed file or an http(s) URL)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    key = services.media.put_file(f"uploads/local/feeds/{digest}{path.suffix.lower()}", path)
    return {"type": "feed", "upload_key": key, "format": feed_format}


def _dispatcher(services: Services) -> Any:
    if services.settings.embedded:
        from worker.runner import InProcessDispatcher

        return InProcessDispatcher(services, worker="local")
    from worker.celery_app import create_celery
    from worker.chains import CeleryDispatcher

    return CeleryDispatcher(create_celery(services.settings), services.marks)


def run_batch(settings: Settings, feed: str, *, preset: str = "tiktok", dry_run: bool = False,
              limit: int | None = None, feed_format: str = "auto",
              include_out_of_stock: bool = False, quality: str | None = None,
              timeout: float | None = None) -> int:
    """Make the feed's videos; exit status 0 when every item succeeded, was unchanged or was
    skipped, 1 when some failed, 2 when the feed could not be read, 3 on timeout."""
    console = Console(stderr=True, soft_wrap=True)
    if settings.embedded:
        upgrade(settings.database_url)
    services = build_services(settings)
    dispatcher = _dispatcher(services)
    try:
        with session_scope(services.sessions) as session:
            account_id, profile_id = local_account_ids(session)
            profile = session.get(Profile, profile_id)
            stored = (profile.settings if profile else None) or {}
            job_options = {name: stored[name] for name in ("voice", "captions", "brand",
                                                            "call_to_action") if name in stored}
            if quality or stored.get("quality"):
                job_options["quality"] = quality or stored["quality"]
            batch = batch_store.create_batch(
                session, account_id=account_id, profile_id=profile_id, preset=preset,
                source=_feed_source(services, feed, feed_format),
                options={"dry_run": dry_run, "limit": limit,
                         "include_out_of_stock": include_out_of_stock, "job": job_options})
            batch_id = batch.id
        console.print(f"batch {batch_id}: {escape(feed)}")
        dispatcher.ingest(batch_id)
        status = _follow(services, batch_id, console, timeout)
        _report(services, batch_id, console)
    finally:
        dispatcher.shutdown()  # embedded: finish the jobs queued in this process
        services.close()
        sys.stderr.flush()
    return {"succeeded": 0, "partial": 1, "failed": 2}.get(status, 3)


def _follow(services: Services, batch_id: str, console: Console, timeout: float | None) -> str:
    """Print progress until the batch ends: items parsed, then videos done out of total."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last = ""
    while True:
        with session_scope(services.sessions) as session:
            batch = session.get(Batch, batch_id)
            assert batch is not None
            counts = batch_store.batch_counts(session, batch_id)
            status = batch_store.batch_status(batch, counts)
            parsed = batch.parsed
        made = counts["total"] - counts["skipped"] - counts["unchanged"] - counts["planned"]
        done = counts["succeeded"] + counts["failed"]
        line = (f"parsing: {parsed} items read" if status in ("queued", "parsing") else
                f"{status}: {done}/{made} videos done ({counts['succeeded']} succeeded, "
                f"{counts['failed']} failed, {counts['unchanged']} unchanged, "
                f"{counts['skipped']} skipped)")
        if line != last:
            console.print(line)
            last = line
        if status in ("succeeded", "partial", "failed"):
            return status
        if deadline is not None and time.monotonic() > deadline:
            console.print("[yellow]still running; follow it with GET /v1/batches/"
                          f"{batch_id}[/yellow]")
            return "running"
        time.sleep(POLL_SECONDS)


def _report(services: Services, batch_id: str, console: Console) -> None:
    table = Table("key", "title", "status", "job", "reason", title=f"batch {batch_id}")
    after = -1
    exported: str | None = None
    with session_scope(services.sessions) as session:
        batch = session.get(Batch, batch_id)
        if batch is not None and batch.error_code:
            console.print(f"[red]{escape(batch.error_code)}[/red]: "
                          f"{escape(batch.error_message or '')}")
        while True:
            page, more = batch_store.batch_items(session, batch_id, after=after, limit=500)
            for item, status, job in page:
                if exported is None and job is not None and job.status == "succeeded":
                    exported = _export_folder(services, job.artifacts or {})
                reason = item.reason or (f"{job.error_stage}: {job.error_message}"
                                         if job is not None and status == "failed" else "")
                table.add_row(escape(item.key), escape(item.title[:60]), status,
                              item.job_id or "", escape(reason or ""))
            if not more or not page:
                break
            after = page[-1][0].position
    console.print(table)
    if exported:
        console.print(f"videos are in {escape(exported)} (named after their job ids)")


def _export_folder(services: Services, artifacts: dict[str, Any]) -> str | None:
    """Where the publish stage put a job's video, as a person finds it."""
    key = artifacts.get("publication")
    if not key:
        return None
    location = json.loads(services.media.read_bytes(key))["location"]
    where = location if Path(location).is_absolute() else services.media.describe(location)
    return str(Path(where).parent)
