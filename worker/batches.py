"""Batch ingest: read a feed or collection, decide per product, write and enqueue the jobs.

Runs in a task (a cpu worker, or the embedded runner's thread), never in the request. The
feed is read streaming and handled a chunk at a time: each chunk's fingerprints are looked up
in one query, its items and new jobs are written in one transaction and then enqueued, so the
first videos are rendering while the rest of the feed is still being read.

Pictures are fetched by the script stage of each job, on the workers, not here: a first run
reads the feed and enqueues. Only an item whose fields match an earlier job has its pictures
checked now (conditionally, in parallel), against the content hashes that job was made from:
new bytes at the same URL make a new video.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline.sources.feeds import FeedError, FeedItem, detect_format, read_feed
from pipeline.sources.feeds.detect import HEAD_BYTES
from pipeline.sources.fetch import FetchRefused, check_url, fetch
from pipeline.sources.product import Product, product_from_fields
from pipeline.sources.readers import collection_item
from pipeline.types import StageError
from store import batches as batch_store
from store.batches import EarlierJob, PlannedItem
from store.media import MediaMissing
from store.models import Batch
from store.services import Services
from worker.kept_lock import KeptLock, LockLost
from worker.remote_media import RemoteMedia, RemoteRefused, fetch_limits
from worker.routing import INGEST_MARK, STAGE_QUEUES
from worker.webhooks import emit

log = logging.getLogger(__name__)

# Bump when the product template or the render of products changes what a video looks like:
# every fingerprint changes with it, and a re-run renders everything again.
TEMPLATE_VERSION = "product-1"
CHUNK_ITEMS = 200
# Fetching is mostly waiting, but checking a picture holds the interpreter: more threads
# than this only fight over it on a small machine.
FETCH_THREADS = 4


class _Addresses:
    """Each picture host checked once per ingest (a feed's pictures mostly share one CDN):
    a URL at a loopback, private or metadata address fails its item now, unfetched."""

    def __init__(self, allow_hosts: frozenset[str]) -> None:
        self.allow_hosts = allow_hosts
        self._seen: dict[tuple[str, str], str | None] = {}

    def refusal(self, url: str) -> str | None:
        """Why the fetcher would refuse `url` before connecting, naming it; None if it would
        try."""
        try:
            parts = urlsplit(url)
            host = (parts.scheme, parts.netloc)
        except ValueError:
            host = None
        if host is not None and host in self._seen:
            reason = self._seen[host]
            return None if reason is None else f"{url}: {reason}"
        try:
            check_url(url, self.allow_hosts)
            reason = None
        except FetchRefused as exc:
            reason = exc.message.removeprefix(f"{url}: ")
        if host is not None:
            self._seen[host] = reason
        return None if reason is None else f"{url}: {reason}"


class BatchFailed(Exception):
    """The whole source could not be read: `code` and `message` go on the batch."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def product_fields(product: Product) -> dict[str, Any]:
    """A product as a job's `product` source (what the API would have been sent)."""
    fields: dict[str, Any] = {"type": "product", "title": product.title, "id": product.id,
                              "description": product.description, "brand": product.brand,
                              "link": product.link, "images": list(product.images)}
    for name in ("price", "sale_price"):
        money = getattr(product, name)
        if money is not None:
            fields[name] = str(money.amount)
            if money.currency:
                fields["currency"] = money.currency
    return fields


def fingerprint(fields: dict[str, Any], look: dict[str, Any], preset: str) -> str:
    """Everything known before fetching that shapes an item's video, hashed: the product's
    fields (its picture URLs among them), the look and the template. The pictures' bytes are
    compared apart, against the job an equal fingerprint finds."""
    shaped = {"product": fields, "look": look, "preset": preset, "template": TEMPLATE_VERSION}
    return hashlib.sha256(json.dumps(shaped, sort_keys=True, ensure_ascii=False)
                          .encode()).hexdigest()


def _look(options: dict[str, Any]) -> dict[str, Any]:
    """The parts of the job options that change a video (not, say, the language detection).

    How the script is written and what it shows count only once they differ from the
    defaults, so that feeds fingerprinted before those options existed stay unchanged.
    """
    look = {name: options.get(name) for name in ("voice", "captions", "brand", "quality",
                                                 "call_to_action", "language")}
    for name, default in (("script", {}), ("visuals", "auto"), ("llm", {})):
        if options.get(name) not in (None, default):
            look[name] = options[name]
    return look


class _Ingest:
    def __init__(self, services: Services, batch: Batch, scratch: Path) -> None:
        self.services = services
        self.batch = batch
        self.options = batch.options or {}
        self.job_options: dict[str, Any] = self.options.get("job") or {}
        self.image_keys: dict[str, str] = self.options.get("image_keys") or {}
        self.remote = RemoteMedia.from_settings(services.settings, services.media, scratch)
        self.addresses = _Addresses(services.settings.fetch_allow_hosts)
        self.scratch = scratch
        self.format: str | None = None  # the feed's format once known (None: a collection)

    # --- reading -----------------------------------------------------------------------

    def items(self) -> Iterator[FeedItem]:
        source = self.batch.source
        if source["type"] == "collection":
            yield from self._collection(source)
            return
        path = self._feed_file(source)
        mapping = self.options.get("mapping")
        feed_format = source.get("format") or "auto"
        try:
            if feed_format == "auto":
                with path.open("rb") as stream:
                    feed_format = detect_format(stream.read(HEAD_BYTES))
            self.format = feed_format  # recorded on the batch with the end of parsing
            yield from read_feed(path, format=feed_format, mapping=mapping,
                                 include_out_of_stock=bool(
                                     self.options.get("include_out_of_stock")),
                                 max_bytes=self.services.settings.max_feed_bytes,
                                 currency=source.get("currency") or "")
        except FeedError as exc:
            raise BatchFailed(exc.code, exc.message) from None

    def _feed_file(self, source: dict[str, Any]) -> Path:
        settings = self.services.settings
        if source.get("upload_key"):
            return self.services.media.fetch(source["upload_key"])
        target = self.scratch / "feed"
        try:
            fetch(source["url"], target, fetch_limits(settings, settings.max_feed_bytes))
        except FetchRefused as exc:
            raise BatchFailed(f"feed_{exc.code}", f"the feed could not be fetched: "
                              f"{exc.message}") from None
        return target

    def _collection(self, source: dict[str, Any]) -> Iterator[FeedItem]:
        entries = [collection_item(item) for item in source.get("items") or []]
        if source.get("mode") == "compilation":
            title = source.get("title") or "compilation"
            yield FeedItem(key="compilation", product=None, status="ok", title=title)
            return
        for i, fields in enumerate(entries):
            try:
                product = product_from_fields(fields)
            except StageError as exc:
                yield FeedItem(key=f"item {i}", product=None, status="invalid",
                               reason=f"item {i}: {exc.message}")
                continue
            yield FeedItem(key=product.id, product=product, title=product.title)

    # --- deciding ----------------------------------------------------------------------

    def _plan(self, position: int, item: FeedItem) -> PlannedItem:
        title = item.title or (item.product.title if item.product else "")
        if item.status == "skipped":
            return PlannedItem(position, item.key, title, "skipped", reason=item.reason)
        if item.status != "ok":
            return PlannedItem(position, item.key, title, "failed", reason=item.reason)
        if self.batch.source["type"] == "collection" and item.product is None:
            return self._plan_compilation(position, title)
        assert item.product is not None
        fields = product_fields(item.product)
        usable, refused = [], []
        for ref in item.product.images:
            reason = None if ref in self.image_keys else self.addresses.refusal(ref)
            if reason:
                refused.append(reason)
            else:
                usable.append(ref)
        if item.product.images and not usable:
            return PlannedItem(position, item.key, title, "failed",
                               reason="no picture could be used: " + "; ".join(refused))
        fields["images"] = usable
        # No language unless the request named one: the script stage finds it from the
        # product's own words, which the fingerprint holds already.
        options = dict(self.job_options)
        uploads = {ref: self.image_keys[ref] for ref in usable if ref in self.image_keys}
        if uploads:
            options["image_keys"] = uploads
        return PlannedItem(position, item.key, title, "job",
                           fingerprint=fingerprint(fields, _look(options), self.batch.preset),
                           reason="; ".join(refused) or None,
                           job_source=fields, job_options=options)

    def _same_pictures(self, item: PlannedItem, earlier: EarlierJob) -> bool:
        """Whether the item's pictures are, byte for byte, those the earlier job used."""
        if earlier.visuals_key is None:
            return True  # it has not fetched them yet: it will use today's
        try:
            # Stock footage the job chose is not the product's: its pictures are compared.
            used = [v["key"] for v in json.loads(self.services.media.read_bytes(
                earlier.visuals_key)) if v.get("source") != "stock"]
        except (MediaMissing, ValueError, KeyError, TypeError):
            return False
        assert item.job_source is not None and item.job_options is not None
        uploads = item.job_options.get("image_keys") or {}
        now = []
        for ref in item.job_source["images"]:
            try:
                now.append(uploads.get(ref) or self.remote.get(ref).key)
            except RemoteRefused:
                continue  # left out, as the script stage leaves it out
        return now == used

    def _plan_compilation(self, position: int, title: str) -> PlannedItem:
        source = self.batch.source
        options = {**self.job_options, "image_keys": self.image_keys}
        digest = fingerprint({"collection": source}, _look(options), self.batch.preset)
        stored = {"type": "collection", "mode": "compilation", "title": source.get("title", ""),
                  "items": source.get("items") or []}
        return PlannedItem(position, "compilation", title, "job", fingerprint=digest,
                           job_source=stored, job_options=options)

    def decide(self, chunk: list[tuple[int, FeedItem]], pool: ThreadPoolExecutor
               ) -> list[PlannedItem]:
        planned = [self._plan(position, item) for position, item in chunk]
        with self.services.sessions() as session:
            earlier = batch_store.reusable_jobs(
                session, self.batch.account_id,
                [p.fingerprint for p in planned if p.status == "job" and p.fingerprint])
        matched = [p for p in planned if p.status == "job" and p.fingerprint in earlier]
        same = dict(zip((p.position for p in matched),
                        pool.map(lambda p: self._same_pictures(p, earlier[p.fingerprint]),
                                 matched), strict=True))
        decided = []
        dry_run = bool(self.options.get("dry_run"))
        for item in planned:
            if item.status == "job" and same.get(item.position):
                assert item.fingerprint is not None
                item = PlannedItem(item.position, item.key, item.title, "unchanged",
                                   fingerprint=item.fingerprint,
                                   job_id=earlier[item.fingerprint].job_id)
            elif item.status == "job" and dry_run:
                item = PlannedItem(item.position, item.key, item.title, "planned",
                                   fingerprint=item.fingerprint, reason=item.reason)
            decided.append(item)
        return decided


def ingest_batch(services: Services, batch_id: str,
                 dispatch: Callable[[list[str]], None], scratch: Path) -> None:
    """Read the batch's source and make its items; a source that cannot be read fails the
    batch with the reason, a product that cannot be used fails only its item. `dispatch`
    enqueues a chunk's new jobs once they are committed."""
    services.marks.clear(batch_id, INGEST_MARK)  # the message was taken
    lease = KeptLock(services, f"ingest:{batch_id}")
    if not lease.acquire():
        log.info("batch %s is being read by another delivery", batch_id)
        return
    try:
        _ingest_held(services, batch_id, dispatch, scratch, lease)
    except LockLost:
        log.warning("batch %s was taken over by another delivery; this one stops", batch_id)
    finally:
        lease.release()


def _ingest_held(services: Services, batch_id: str, dispatch: Callable[[list[str]], None],
                 scratch: Path, lease: KeptLock) -> None:
    with services.sessions() as session:
        batch = session.get(Batch, batch_id)
        if batch is None or batch.status not in ("queued", "parsing"):
            return  # gone, or a redelivered message for a batch already read
        batch_store.set_batch_state(session, batch_id, "parsing")
        session.commit()
        session.expunge(batch)
        # A redelivered message after a crash mid-feed resumes after the items written.
        resume_at = batch_store.written_so_far(session, batch_id)
    ingest = _Ingest(services, batch, scratch)
    # One thread sends each committed chunk's jobs while this one reads and writes the next:
    # enqueueing costs as much as everything else together. Leaving the block waits for it.
    with ThreadPoolExecutor(1, thread_name_prefix="vf-dispatch") as sender:
        def send(job_ids: list[str]) -> None:
            sender.submit(_send, dispatch, job_ids, batch_id)

        _read_and_write(services, ingest, batch_id, resume_at, send, lease)


def _read_and_write(services: Services, ingest: _Ingest, batch_id: str, resume_at: int,
                    send: Callable[[list[str]], None], lease: KeptLock) -> None:
    limit = min(int(ingest.options.get("limit") or services.settings.max_batch_items),
                services.settings.max_batch_items)
    position = made = 0
    try:
        with ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="vf-ingest") as pool:
            chunk: list[tuple[int, FeedItem]] = []
            for item in ingest.items():
                if item.status == "ok":
                    if made >= limit:
                        continue  # read on: later rows may still be reported as broken
                    made += 1
                # Products past the limit have no position, so a resumed read must leave
                # them out before it counts off the positions already written.
                if position < resume_at:
                    position += 1
                    continue
                chunk.append((position, item))
                position += 1
                if len(chunk) >= CHUNK_ITEMS:
                    lease.check()
                    _write(services, ingest, chunk, pool, send, position)
                    chunk = []
            lease.check()
            _write(services, ingest, chunk, pool, send, position)
    except LockLost:
        raise  # the batch is another delivery's now: nothing here may mark it
    except BatchFailed as exc:
        _fail(services, batch_id, position, exc.code, exc.message)
        return
    except Exception as exc:
        # A bug or an outage must not leave the batch "parsing" for ever.
        _fail(services, batch_id, position, "ingest_failed",
              f"reading the source stopped after {position} items: {exc}")
        raise
    finally:
        ingest.remote.close()
    with services.sessions() as session:
        batch_store.set_batch_state(session, batch_id, "running", parsed=position,
                                    format=ingest.format)
        session.commit()
        counts = batch_store.batch_counts(session, batch_id)
        batch = session.get(Batch, batch_id)
        status = batch_store.batch_status(batch, counts) if batch else "running"
    if status != "running":  # nothing to make (all unchanged, or a dry run): done already
        emit(services, ingest.batch.profile_id, "batch.completed", batch_id,
             {"batch_id": batch_id, "status": status, "counts": counts})


def _fail(services: Services, batch_id: str, parsed: int, code: str, message: str) -> None:
    with services.sessions() as session:
        batch_store.set_batch_state(session, batch_id, "failed", parsed=parsed,
                                    error=(code, message))
        session.commit()


def _write(services: Services, ingest: _Ingest, chunk: list[tuple[int, FeedItem]],
           pool: ThreadPoolExecutor, send: Callable[[list[str]], None], parsed: int) -> None:
    if not chunk:
        return
    decided = ingest.decide(chunk, pool)
    with services.sessions() as session:
        batch = session.get(Batch, ingest.batch.id)
        assert batch is not None
        job_ids = batch_store.write_items(session, batch, decided, STAGE_QUEUES)
        batch.parsed = parsed
        session.commit()
    if job_ids:
        send(job_ids)


def _send(dispatch: Callable[[list[str]], None], job_ids: list[str], batch_id: str) -> None:
    try:
        dispatch(job_ids)
    except Exception:  # noqa: BLE001 - the reconciler sends a job whose message is lost
        log.exception("could not enqueue %d jobs of batch %s", len(job_ids), batch_id)
