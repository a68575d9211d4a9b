"""Batch ingest: read a feed or collection, decide per product, write and enqueue the jobs.

Runs in a task (a cpu worker, or the embedded runner's thread), never in the request. The
feed is read streaming and handled a chunk at a time: each chunk's pictures are fetched in
parallel (their hashes are part of the fingerprint), its fingerprints are looked up in one
query, its items and new jobs are written in one transaction and then enqueued, so the first
videos are rendering while the rest of the feed is still being read.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipeline.sources.feeds import FeedError, FeedItem, detect_format, read_feed
from pipeline.sources.feeds.detect import HEAD_BYTES
from pipeline.sources.fetch import FetchRefused, fetch
from pipeline.sources.product import Product, product_from_fields
from pipeline.sources.readers import collection_item
from pipeline.text.clean import clean_text
from pipeline.text.language import detect_language
from pipeline.types import StageError
from store import batches as batch_store
from store.batches import PlannedItem
from store.models import Batch
from store.services import Services
from worker.remote_media import RemoteMedia, RemoteRefused, fetch_limits
from worker.routing import STAGE_QUEUES

log = logging.getLogger(__name__)

# Bump when the product template or the render of products changes what a video looks like:
# every fingerprint changes with it, and a re-run renders everything again.
TEMPLATE_VERSION = "product-1"
CHUNK_ITEMS = 200
# Fetching is mostly waiting, but checking a picture holds the interpreter: more threads
# than this only fight over it on a small machine.
FETCH_THREADS = 4


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


def fingerprint(fields: dict[str, Any], image_hashes: list[str], look: dict[str, Any],
                preset: str) -> str:
    """Everything that shapes an item's video, hashed: equal fingerprints, equal videos."""
    shaped = {"product": {k: v for k, v in fields.items() if k != "images"},
              "images": image_hashes, "look": look, "preset": preset,
              "template": TEMPLATE_VERSION}
    return hashlib.sha256(json.dumps(shaped, sort_keys=True, ensure_ascii=False)
                          .encode()).hexdigest()


def _look(options: dict[str, Any]) -> dict[str, Any]:
    """The parts of the job options that change a video (not, say, the language detection)."""
    return {name: options.get(name) for name in ("voice", "captions", "brand", "quality",
                                                 "call_to_action", "language")}


class _Ingest:
    def __init__(self, services: Services, batch: Batch, scratch: Path) -> None:
        self.services = services
        self.batch = batch
        self.options = batch.options or {}
        self.job_options: dict[str, Any] = self.options.get("job") or {}
        self.image_keys: dict[str, str] = self.options.get("image_keys") or {}
        self.remote = RemoteMedia.from_settings(services.settings, services.media, scratch)
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

    def _image(self, ref: str) -> tuple[str, str]:
        """(media key, content hash) of one picture."""
        if ref in self.image_keys:
            key = self.image_keys[ref]
            return key, key  # an upload's key never changes its bytes
        remote = self.remote.get(ref)
        return remote.key, remote.sha256

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
        keys, hashes, refused = {}, [], []
        for ref in item.product.images:
            try:
                key, digest = self._image(ref)
            except RemoteRefused as exc:
                refused.append(exc.message)
                continue
            keys[ref] = key
            hashes.append(digest)
        if item.product.images and not keys:
            return PlannedItem(position, item.key, title, "failed",
                               reason="no picture could be used: " + "; ".join(refused))
        fields["images"] = [ref for ref in item.product.images if ref in keys]
        options = {**self.job_options, "image_keys": keys}
        if not (options.get("voice") or {}).get("language"):
            options["language"] = detect_language(
                clean_text(f"{item.product.title}. {item.product.description}"))
        return PlannedItem(position, item.key, title, "job",
                           fingerprint=fingerprint(fields, hashes, _look(options),
                                                   self.batch.preset),
                           reason="; ".join(refused) or None,
                           job_source=fields, job_options=options)

    def _plan_compilation(self, position: int, title: str) -> PlannedItem:
        source = self.batch.source
        options = {**self.job_options, "image_keys": self.image_keys}
        digest = fingerprint({"collection": source}, [], _look(options), self.batch.preset)
        stored = {"type": "collection", "mode": "compilation", "title": source.get("title", ""),
                  "items": source.get("items") or []}
        return PlannedItem(position, "compilation", title, "job", fingerprint=digest,
                           job_source=stored, job_options=options)

    def decide(self, chunk: list[tuple[int, FeedItem]], pool: ThreadPoolExecutor
               ) -> list[PlannedItem]:
        planned = list(pool.map(lambda pair: self._plan(*pair), chunk))
        with self.services.sessions() as session:
            reusable = batch_store.reusable_jobs(
                session, self.batch.account_id,
                [p.fingerprint for p in planned if p.status == "job" and p.fingerprint])
        decided = []
        dry_run = bool(self.options.get("dry_run"))
        for item in planned:
            if item.status == "job" and item.fingerprint in reusable:
                item = PlannedItem(item.position, item.key, item.title, "unchanged",
                                   fingerprint=item.fingerprint,
                                   job_id=reusable[item.fingerprint])
            elif item.status == "job" and dry_run:
                item = PlannedItem(item.position, item.key, item.title, "planned",
                                   fingerprint=item.fingerprint, reason=item.reason)
            decided.append(item)
        return decided


def ingest_batch(services: Services, batch_id: str, dispatch: Callable[[str], None],
                 scratch: Path) -> None:
    """Read the batch's source and make its items; a source that cannot be read fails the
    batch with the reason, a product that cannot be used fails only its item."""
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
    limit = min(int(batch.options.get("limit") or services.settings.max_batch_items),
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
                    _write(services, ingest, chunk, pool, dispatch, position)
                    chunk = []
            _write(services, ingest, chunk, pool, dispatch, position)
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


def _fail(services: Services, batch_id: str, parsed: int, code: str, message: str) -> None:
    with services.sessions() as session:
        batch_store.set_batch_state(session, batch_id, "failed", parsed=parsed,
                                    error=(code, message))
        session.commit()


def _write(services: Services, ingest: _Ingest, chunk: list[tuple[int, FeedItem]],
           pool: ThreadPoolExecutor, dispatch: Callable[[str], None], parsed: int) -> None:
    if not chunk:
        return
    decided = ingest.decide(chunk, pool)
    with services.sessions() as session:
        batch = session.get(Batch, ingest.batch.id)
        assert batch is not None
        job_ids = batch_store.write_items(session, batch, decided, STAGE_QUEUES)
        batch.parsed = parsed
        session.commit()
    for job_id in job_ids:
        try:
            dispatch(job_id)
        except Exception:  # noqa: BLE001 - the reconciler sends a job whose message is lost
            log.exception("could not enqueue job %s of batch %s", job_id, ingest.batch.id)
