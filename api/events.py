"""Server-Sent Events: a job's or a batch's state pushed as it changes.

`GET /v1/jobs/<id>/events` sends an `event: job` with the same body as `GET /v1/jobs/<id>`
each time it changes, and `event: end` once the job has finished; the batch route does the
same with `GET /v1/batches/<id>`'s body. The server looks at the database (and the live
progress) twice a second and sends only changes, so a page shows stages advancing with no
polling of its own. A stream lasts at most EVENTS_STREAM_SECONDS; the browser's EventSource
then reconnects by itself (`retry:`), and the first event of every stream is the full state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, stream_with_context
from flask.typing import ResponseReturnValue

from api.auth import require_account
from api.batches import _owned_batch, batch_page
from api.context import db_session, services
from api.jobs import _owned_job, job_public
from store.jobs import FINISHED_STATUSES

bp = Blueprint("events", __name__)

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0  # a comment line, so that proxies do not close a quiet stream
RECONNECT_MS = 2000
BATCH_DONE = ("succeeded", "partial", "failed")


def _event(name: str, data: dict[str, Any], event_id: int) -> str:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _stream(read: Callable[[], dict[str, Any]], kind: str, done: tuple[str, ...]) -> Response:
    """Send `read()` whenever it changes, until its status is one of `done` or the stream's
    time is up."""
    lifetime = services().settings.events_stream_seconds

    def events() -> Iterator[str]:
        yield f"retry: {RECONNECT_MS}\n\n"
        started = last_sent = time.monotonic()
        previous, event_id = None, 0
        while True:
            session = db_session()
            session.expire_all()  # read what the workers committed since the last look
            state = read()
            session.rollback()  # hold no transaction open between looks
            if state != previous:
                event_id += 1
                yield _event(kind, state, event_id)
                previous, last_sent = state, time.monotonic()
            if state["status"] in done:
                yield _event("end", {"status": state["status"]}, event_id + 1)
                return
            now = time.monotonic()
            if now - started >= lifetime:
                return
            if now - last_sent >= KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                last_sent = now
            time.sleep(POLL_SECONDS)

    response = Response(stream_with_context(events()), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


@bp.get("/v1/jobs/<job_id>/events")
@require_account
def job_events(job_id: str) -> ResponseReturnValue:
    """The job's state as Server-Sent Events, until it finishes."""
    job_id = _owned_job(job_id).id
    return _stream(lambda: job_public(_owned_job(job_id), with_costs=True), "job",
                   FINISHED_STATUSES)


@bp.get("/v1/batches/<batch_id>/events")
@require_account
def batch_events(batch_id: str) -> ResponseReturnValue:
    """The batch's counts and first page of items as Server-Sent Events, until it is done."""
    batch_id = _owned_batch(batch_id).id
    return _stream(lambda: batch_page(_owned_batch(batch_id)), "batch", BATCH_DONE)
