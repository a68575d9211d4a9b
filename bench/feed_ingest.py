"""Feed ingest benchmark: how fast a product feed becomes queued jobs, against what Celery costs.

Run: .venv/bin/python -m bench.feed_ingest [--sizes 1000 10000] [--no-first-video] [--profile]
     .venv/bin/python -m bench.feed_ingest --quick      (200 products, no first video)

Everything runs on this machine. The bench serves generated Google Merchant RSS feeds (g:
namespace, HTML descriptions, "15.00 USD" prices, some sale prices, some out of stock, some
item_group_id variants) and one small distinct PNG per product (with an ETag, 304 on
If-None-Match) from a threaded http.server on 127.0.0.1. It claims a fresh Postgres database
(dropped at the end) and a spare Redis DB number (flushed at the end), FETCH_ALLOW_HOSTS=
127.0.0.1. For each size it measures, and prints (it never asserts a timing):

- ingest: `POST /v1/batches` through the real Flask app in distributed mode (the ingest message
  goes onto Redis), then `worker.batches.ingest_batch` with the real `CeleryDispatcher` in a
  child process that was started and warmed before the POST, as a running worker would be. The
  time runs from the POST until ingest_batch returns: every job stored and its chain on Redis.
  Nothing consumes the messages; they are purged afterwards. The child's peak RSS is the
  parser's own (its baseline after imports is printed beside it).
- the jobs' script stages: between the two runs, every job of the first batch runs its real
  script stage (untimed, 4 at a time), which fetches its picture and records the content
  hash it used, as the workers would have done by the next day.
- floor: as many five-task chains of no-op tasks (same broker, same cpu/gpu queues and
  priorities) as the ingest made jobs, sent with apply_async: what any ingest must pay to
  enqueue that many jobs. ratio = ingest / floor; the goal is <= 2x at 10,000.
- re-run: the same, unchanged feed as a new batch: time, jobs made (should be 0: every
  fingerprint is known and every picture is the one its job used), and re-run / floor; the
  goal is <= 1x. Pictures are served with Cache-Control max-age=86400, as product CDNs send
  them (Shopify's sends a year), so a fresh one is not asked about; --image-max-age 0 serves
  them with an ETag only, and every picture is then revalidated (a 304 each).
- time to first video (--first-video, the default): a 20-product feed batch on a fleet of one
  cpu and one gpu worker (`videofactory worker`, each --concurrency 1; on a machine without a
  GPU the gpu pool runs on the CPU) behind `videofactory serve`, draft quality: seconds from
  the POST until the first item's job succeeded.

A second table splits ingest_batch's wall time into reading the feed, deciding (languages,
fingerprint look-up, and for items matching an earlier job their pictures revalidated in the
pool), storing and dispatching.
--profile samples every thread of the ingest child (the main thread, which reads, writes and
dispatches, and the picture-fetching pool) at the largest size and prints where the time went.
"""

from __future__ import annotations

import argparse
import collections
import functools
import hashlib
import multiprocessing
import os
import secrets
import signal
import struct
import sys
import tempfile
import threading
import time
import traceback
import zlib
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from celery import Celery
    from flask.testing import FlaskClient

    from store.services import Services

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
REDIS_SERVER_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
DEFAULT_SIZES = (1000, 10000)
QUICK_SIZES = (200,)
FIRST_VIDEO_PRODUCTS = 20
KEY_PREFIX = "vf-feedbench"

# --- the feed and its pictures (pure) -----------------------------------------------------

# In every run of 20 products the first three are variants (S, M, L) of one item_group_id;
# one product in 50 is out of stock; one in four is on sale.
GROUP_EVERY, GROUP_SIZE = 20, 3
SIZES = ("S", "M", "L")
OUT_OF_STOCK_EVERY, OUT_OF_STOCK_AT = 50, 7
SALE_EVERY = 4
ADJECTIVES = ("Cosy", "Classic", "Bright", "Rugged", "Slim", "Soft", "Bold", "Handmade",
              "Vintage", "Compact", "Everyday", "Premium")
NOUNS = ("Lamp", "Mug", "Backpack", "Scarf", "Kettle", "Notebook", "Candle", "Blanket",
         "Speaker", "Planter", "Wallet", "Jacket", "Teapot", "Cushion")
BRANDS = ("Acme", "Northwind", "Bluebird & Co", "Tandem", "Oakline")
USES = ("your morning routine", "long weekends away", "a quiet evening at home",
        "the office desk", "gifts that get used", "small flats and big ideas")


@dataclass(frozen=True)
class FeedShape:
    """What reading a generated feed of `products` entries gives."""

    products: int  # <item> elements in the feed
    items: int  # batch items: one per ungrouped product, one per variant group
    skipped: int  # items out of stock
    jobs: int  # items a first ingest makes a job for


def _grouped(index: int) -> bool:
    return index % GROUP_EVERY < GROUP_SIZE


def _out_of_stock(index: int) -> bool:
    return not _grouped(index) and index % OUT_OF_STOCK_EVERY == OUT_OF_STOCK_AT


def feed_shape(products: int) -> FeedShape:
    """How many items, skipped items and jobs `merchant_feed(products, …)` makes."""
    groups = len({index // GROUP_EVERY for index in range(products) if _grouped(index)})
    ungrouped = sum(1 for index in range(products) if not _grouped(index))
    skipped = sum(1 for index in range(products) if _out_of_stock(index))
    items = ungrouped + groups
    return FeedShape(products, items, skipped, items - skipped)


def product_png(key: str, side: int = 32) -> bytes:
    """A small RGB PNG whose colours come from `key`: the same key, the same bytes."""
    seed = hashlib.sha256(key.encode()).digest()
    red, green, blue = seed[0], seed[1], seed[2]
    rows = b"".join(
        b"\x00" + bytes(channel for x in range(side) for channel in (
            (red + 7 * x) % 256, (green + 7 * y) % 256, (blue + 3 * (x + y)) % 256))
        for y in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


def image_path(tag: str, index: int) -> str:
    """The server path of product `index`'s picture in the feed tagged `tag`."""
    return f"/img/{tag}/{index}.png"


def _description(index: int, title: str, brand: str) -> str:
    use = USES[index % len(USES)]
    return (f"<p>The <strong>{title}</strong> by {escape(brand)} is made for {use}.</p>"
            f"<ul><li>Sturdy materials &amp; careful stitching</li>"
            f"<li>Ships in {1 + index % 5} to {3 + index % 5} days</li></ul>"
            f"<p>Loved by customers who want something simple that lasts for years.</p>")


def _item(index: int, base_url: str, tag: str) -> str:
    name = f"{ADJECTIVES[index % len(ADJECTIVES)]} {NOUNS[(index // 3) % len(NOUNS)]}"
    brand = BRANDS[index % len(BRANDS)]
    lines = [f"<g:id>{tag}-{index:06d}</g:id>"]
    if _grouped(index):
        group = index // GROUP_EVERY
        name = f"{ADJECTIVES[group % len(ADJECTIVES)]} Tee {group}"
        title = f"{name} - {SIZES[index % GROUP_EVERY]}"
        lines.append(f"<g:item_group_id>{tag}-group-{group:05d}</g:item_group_id>")
    else:
        title = f"{name} no. {index}"
    description = _description(index, title, brand)
    # Half the feed wraps its HTML in CDATA, the other half escapes it: both are common.
    body = (f"<![CDATA[{description}]]>" if index % 2 else escape(description))
    price = 10 + index % 40
    lines += [f"<g:title>{escape(title)}</g:title>", f"<description>{body}</description>",
              f"<link>{base_url}/products/{tag}/{index}</link>",
              f"<g:image_link>{base_url}{image_path(tag, index)}</g:image_link>",
              f"<g:price>{price}.00 USD</g:price>",
              f"<g:availability>{'out of stock' if _out_of_stock(index) else 'in stock'}"
              "</g:availability>",
              f"<g:brand>{escape(brand)}</g:brand>", "<g:condition>new</g:condition>"]
    if index % SALE_EVERY == 1:
        lines.append(f"<g:sale_price>{price - 3}.50 USD</g:sale_price>")
    return "<item>\n  " + "\n  ".join(lines) + "\n</item>\n"


def merchant_feed(products: int, base_url: str, *, tag: str = "feed") -> bytes:
    """A Google Merchant RSS 2.0 feed of `products` items whose links point at `base_url`.

    `tag` prefixes ids and picture paths, so feeds with different tags share no picture URL.
    """
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">\n<channel>\n'
            f"<title>Bench shop {escape(tag)}</title>\n<link>{base_url}/</link>\n"
            "<description>Generated by bench/feed_ingest.py</description>\n")
    body = "".join(_item(index, base_url, tag) for index in range(products))
    return (head + body + "</channel>\n</rss>\n").encode()


# --- the server -----------------------------------------------------------------------------


@functools.cache
def _picture(key: str) -> tuple[bytes, str]:
    data = product_png(key)
    return data, f'"{hashlib.sha256(data).hexdigest()[:24]}"'


@dataclass
class Hits:
    """Requests the server answered, by kind."""

    feeds: int = 0
    images: int = 0  # 200 with the bytes
    not_modified: int = 0  # 304
    missing: int = 0  # 404


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The ingest fetches 8 pictures at a time, each on a new connection; the default backlog
    # of 5 would drop SYNs under that and add one-second retransmits to the figures.
    request_queue_size = 256

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.feeds: dict[str, bytes] = {}
        self.hits = Hits()
        self.lock = threading.Lock()

    def count(self, kind: str) -> None:
        with self.lock:
            setattr(self.hits, kind, getattr(self.hits, kind) + 1)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # Keep-alive, as a CDN serves pictures; every answer says its length, so it is safe.
    protocol_version = "HTTP/1.1"
    # Headers and body in one send, without Nagle: written apart, a kept-alive connection
    # waits for the client's delayed ACK (40 ms) before the body goes out.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    # --image-max-age: a CDN's Cache-Control on its pictures (0: none, so each is revalidated)
    max_age = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?", 1)[0]
        if path in self.server.feeds:
            self.server.count("feeds")
            self._answer(200, self.server.feeds[path], "application/rss+xml")
            return
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "img" and parts[2].endswith(".png"):
            data, etag = _picture(path.removeprefix("/img/"))
            if self.headers.get("If-None-Match") == etag:
                self.server.count("not_modified")
                self._answer(304, b"", "", etag)
            else:
                self.server.count("images")
                self._answer(200, data, "image/png", etag)
            return
        self.server.count("missing")
        self._answer(404, b"not here\n", "text/plain")

    def _answer(self, status: int, body: bytes, content_type: str, etag: str = "") -> None:
        self.send_response(status)
        if etag:
            self.send_header("ETag", etag)
            if self.max_age:
                self.send_header("Cache-Control", f"public, max-age={self.max_age}")
        if status != 304:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        """Quiet: thousands of picture requests would bury the figures."""


class FeedServer:
    """Feeds and product pictures over HTTP on 127.0.0.1, in a thread of this process."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="feed-server", daemon=True)

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port>"""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def hits(self) -> Hits:
        """A copy of the request counters so far."""
        with self._server.lock:
            return Hits(**vars(self._server.hits))

    def add_feed(self, name: str, body: bytes) -> str:
        """Serve `body` at /feeds/<name>.xml; its URL."""
        path = f"/feeds/{name}.xml"
        self._server.feeds[path] = body
        return self.base_url + path

    def add_merchant_feed(self, tag: str, products: int) -> str:
        """Serve `merchant_feed(products, …, tag=tag)` with its pictures made beforehand, so
        that making them is not timed as part of the fetch; the feed's URL."""
        for index in range(products):
            _picture(image_path(tag, index).removeprefix("/img/"))
        return self.add_feed(tag, merchant_feed(products, self.base_url, tag=tag))

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


# --- the floor: enqueueing empty chains -------------------------------------------------------


def floor_app(broker_url: str) -> Celery:
    """A Celery app on the broker with five no-op tasks, queued and sent like the stages."""
    from celery import Celery
    from kombu import Queue

    from worker.routing import QUEUES, ROUTES

    app = Celery("vf-floor", broker=broker_url, set_as_current=False)
    app.conf.update(task_queues=[Queue(name) for name in QUEUES], task_default_queue="cpu",
                    task_serializer="json", accept_content=["json"], task_ignore_result=True,
                    broker_connection_retry_on_startup=True)
    for route in ROUTES:
        app.task(name=f"bench.floor.{route.stage}", shared=False)(_no_op)
    return app


def _no_op(keys: dict[str, Any]) -> dict[str, Any]:
    return keys


def enqueue_floor(app: Celery, count: int) -> float:
    """Seconds to send `count` five-task chains (one per job) with apply_async."""
    from celery import chain

    from worker.routing import ROUTES

    started = time.perf_counter()
    for index in range(count):
        # Built per job, as build_chain does: a chain's signatures are mutated when sent.
        signatures = [app.signature(f"bench.floor.{route.stage}", queue=route.queue,
                                    priority=route.priority) for route in ROUTES]
        signatures[0] = signatures[0].clone(args=({"job_id": f"floor-{index}"},))
        chain(*signatures).apply_async()
    return time.perf_counter() - started


def queued_messages(app: Celery, queue: str) -> int:
    """Messages waiting in a queue of the app's broker (every priority counted)."""
    with app.connection_for_write() as connection:
        # Not passive: a passive declare of an empty Redis queue fails, it has no key then.
        return int(connection.default_channel.queue_declare(queue).message_count)


# --- the ingest, in a warmed child process ------------------------------------------------


@dataclass(frozen=True)
class IngestRun:
    """One batch: POST, then ingest_batch in the child."""

    batch_id: str
    seconds: float  # from the POST until ingest_batch returned
    post_seconds: float  # of which the POST (validate, store, send the ingest message)
    items: int
    jobs: int  # dispatched by the ingest
    counts: dict[str, int]  # as GET /v1/batches/<id> shows them
    decided: dict[str, int]  # the items' own statuses: job, unchanged, skipped, failed
    peak_rss_mb: float  # the child's peak resident memory
    baseline_rss_mb: float  # the child's resident memory when warmed, before the POST
    cpu_seconds: float  # the child's CPU time during the ingest (all threads)
    messages: int  # messages the broker held afterwards (the ingest's own one included)
    hits: Hits  # what the feed server answered during the run
    phases: dict[str, float]  # PHASES -> seconds of ingest_batch spent there
    profile: str = ""


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# Frames every sample has (process start, thread start): they say nothing about the ingest.
_PLUMBING = ("_bootstrap", "_bootstrap_inner", "run (", "_worker (", "<module>", "spawn_main",
             "_main (", "_ingest_child", "<lambda> (batches")


class _Sampler:
    """Where every thread is, every few milliseconds: a profile that sees the fetch pool."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.main = threading.main_thread().ident
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.inclusive: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter)
        self.own: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def _run(self) -> None:
        me = threading.get_ident()
        last = time.perf_counter()
        while not self._stop.wait(self.interval):
            # Each sample stands for the time since the last one: under load (the GIL, two
            # cores) a round takes longer than the interval, and counting ticks would hide it.
            now = time.perf_counter()
            weight, last = now - last, now
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                stack = []
                walk: Any = frame
                while walk is not None:
                    code = walk.f_code
                    stack.append(f"{code.co_name} ({Path(code.co_filename).name}:"
                                 f"{code.co_firstlineno})")
                    walk = walk.f_back
                if ident == self.main:
                    group = "main thread"
                elif any(name.startswith("_plan ") for name in stack):
                    group = "fetch pool (busy threads)"
                else:
                    continue  # idle pool threads, Redis or kombu helpers
                self.seconds[group] += weight
                self.own[group][stack[0]] += weight
                for name in set(stack):
                    self.inclusive[group][name] += weight

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self, top: int = 30) -> str:
        """Seconds per function, inclusive and own, for each group of threads."""
        lines = []
        for group, seconds in self.seconds.items():
            lines.append(f"  {group}: {seconds:.1f} thread-seconds sampled")
            lines.append(f"    {'incl_s':>7} {'own_s':>7}  function")
            for name, spent in self.inclusive[group].most_common(top):
                if name.startswith(_PLUMBING):
                    continue
                lines.append(f"    {spent:7.2f} {self.own[group][name]:7.2f}  {name}")
            lines.append("    top own time: " + "; ".join(
                f"{name} {spent:.2f}s" for name, spent in self.own[group].most_common(8)))
        return "\n".join(lines)


PHASES = ("read", "decide", "store", "wait", "dispatch")


def _time_phases() -> dict[str, float]:
    """Wrap the ingest's steps with timers: seconds spent in each of PHASES when it is done.

    On the ingest's main thread: read (fetching and parsing the feed, and the batch's own
    rows), decide (fingerprint look-up, and the pictures of items matching an earlier job,
    revalidated in the pool), store (writing the chunk's items and jobs and committing) and
    wait (for the sending thread, after the last chunk). On the sending thread, alongside:
    dispatch (marking and enqueueing the chains).
    """
    import worker.batches as ingest_module

    spent: dict[str, float] = dict.fromkeys((*PHASES, "main"), 0.0)

    def timed(owner: Any, name: str, phase: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[phase] += time.perf_counter() - started

        setattr(owner, name, wrapper)

    timed(ingest_module._Ingest, "decide", "decide")
    timed(ingest_module, "_write", "store")  # decide is taken out below
    timed(ingest_module, "_read_and_write", "main")  # the rest of it is reading
    return spent


def _ingest_child(conn: Connection, env: Mapping[str, str], sample: bool) -> None:
    """Warm up like a worker, then ingest the batch id the parent sends; report on `conn`."""
    try:
        import resource

        from pipeline.text.language import detect_language
        from store.services import build_services
        from store.settings import Settings
        from worker.batches import ingest_batch
        from worker.celery_app import create_celery
        from worker.chains import CeleryDispatcher

        settings = Settings.from_env(env)
        services = build_services(settings)
        celery = create_celery(settings)
        dispatcher = CeleryDispatcher(celery, services.marks)
        # A running worker has its language detector loaded after its first batch.
        detect_language("A warm-up sentence so that the language detector is loaded.")
        conn.send(("ready", _rss_mb()))
        batch_id = conn.recv()
        dispatched = 0
        spent = _time_phases()

        def dispatch(job_ids: list[str]) -> None:
            nonlocal dispatched
            started = time.perf_counter()
            dispatcher.dispatch_many(job_ids)
            spent["dispatch"] += time.perf_counter() - started
            dispatched += len(job_ids)

        scratch = services.media.scratch_dir("batches", batch_id)
        before = resource.getrusage(resource.RUSAGE_SELF)
        with ExitStack() as stack:
            sampler = stack.enter_context(_Sampler()) if sample else None
            started = time.perf_counter()
            ingest_batch(services, batch_id, dispatch, scratch)
            finished = time.monotonic()
            total = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        spent["read"] = spent["main"] - spent["store"]
        spent["store"] -= spent["decide"]
        spent["wait"] = total - spent.pop("main")
        services.media.discard_scratch(scratch)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        conn.send(("done", finished, dispatched, after.ru_maxrss / 1024, cpu, spent,
                   sampler.report() if sampler else ""))
        celery.close()
        services.close()
    except BaseException:  # noqa: BLE001 - the parent must hear why, whatever it was
        conn.send(("error", traceback.format_exc()))


def _receive(conn: Connection, child: multiprocessing.process.BaseProcess,
             timeout: float) -> tuple[Any, ...]:
    deadline = time.monotonic() + timeout
    while not conn.poll(0.5):
        if not child.is_alive():
            raise RuntimeError(f"the ingest child died (exit code {child.exitcode})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the ingest child did not answer within {timeout:.0f} s")
    message: tuple[Any, ...] = conn.recv()
    if message[0] == "error":
        raise RuntimeError(f"the ingest child failed:\n{message[1]}")
    return message


@dataclass
class Bench:
    """The bench's Postgres database, Redis DB, Flask app and feed server."""

    env: dict[str, str]
    client: FlaskClient
    server: FeedServer
    celery: Celery  # the app's own, for counting and purging queued messages
    services: Services  # the app's own, for reading what the ingest wrote
    headers: dict[str, str] = field(default_factory=dict)


def run_ingest(bench: Bench, feed_url: str, *, sample: bool = False,
               timeout: float = 1800) -> IngestRun:
    """POST a batch of the feed and run its ingest in a fresh, warmed child."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_ingest_child, args=(theirs, bench.env, sample),
                            name="vf-feedbench-ingest", daemon=True)
    child.start()
    try:
        _, baseline = _receive(ours, child, 180)
        hits_before = bench.server.hits
        started = time.monotonic()
        answer = bench.client.post("/v1/batches", headers=bench.headers,
                                   json={"source": {"type": "feed", "url": feed_url}})
        post_seconds = time.monotonic() - started
        if answer.status_code != 202:
            raise RuntimeError(f"POST /v1/batches answered {answer.status_code}: "
                               f"{answer.get_data(as_text=True)[:500]}")
        batch_id = answer.get_json()["id"]
        ours.send(batch_id)
        _, finished, jobs, peak, cpu, phases, profile = _receive(ours, child, timeout)
        child.join(30)
    finally:
        if child.is_alive():
            child.terminate()
            child.join(10)
        ours.close()
    summary = bench.client.get(f"/v1/batches/{batch_id}?limit=1", headers=bench.headers)
    body = summary.get_json()
    if body["status"] == "failed":
        raise RuntimeError(f"batch {batch_id} failed: {body['error']}")
    decided = _decided(bench.services, batch_id)
    hits_after = bench.server.hits
    hits = Hits(**{name: getattr(hits_after, name) - getattr(hits_before, name)
                   for name in vars(hits_after)})
    messages = sum(queued_messages(bench.celery, queue) for queue in ("cpu", "gpu"))
    bench.celery.control.purge()
    return IngestRun(batch_id, finished - started, post_seconds, body["counts"]["total"], jobs,
                     body["counts"], decided, peak, baseline, cpu, messages, hits, phases, profile)


def _decided(services: Services, batch_id: str) -> dict[str, int]:
    """How many of the batch's items the ingest gave each status (its decision, not the
    status of the jobs behind them)."""
    from sqlalchemy import func, select

    from store.models import BatchItem

    with services.sessions() as session:
        rows = session.execute(select(BatchItem.status, func.count())
                               .where(BatchItem.batch_id == batch_id)
                               .group_by(BatchItem.status)).all()
    return {status: int(count) for status, count in rows}


def run_floor(broker_url: str, count: int) -> tuple[float, int]:
    """Seconds to enqueue `count` empty chains, and the messages the broker then held."""
    app = floor_app(broker_url)
    try:
        seconds = enqueue_floor(app, count)
        messages = queued_messages(app, "cpu")
        app.control.purge()
    finally:
        app.close()
    return seconds, messages


# --- the jobs' script stages, between the runs -------------------------------------------------


@dataclass(frozen=True)
class ScriptStages:
    """The first batch's jobs, each through its real script stage."""

    jobs: int
    failed: int
    seconds: float


def run_script_stages(bench: Bench, batch_id: str, threads: int = 4) -> ScriptStages:
    """Run the real script stage of every job of the batch here (each fetches its pictures
    and records what it used), as the fleet would have by the next run."""
    from sqlalchemy import select

    from store.models import BatchItem
    from worker.execution import StageFailed, execute_stage

    with bench.services.sessions() as session:
        job_ids = list(session.scalars(select(BatchItem.job_id).where(
            BatchItem.batch_id == batch_id, BatchItem.job_id.is_not(None))))

    def script(job_id: str) -> bool:
        try:
            execute_stage(bench.services, "script", job_id, worker="feed-bench")
        except StageFailed:
            return False
        return True

    started = time.perf_counter()
    with ThreadPoolExecutor(threads, thread_name_prefix="feed-bench-script") as pool:
        done = list(pool.map(script, job_ids))
    return ScriptStages(len(job_ids), done.count(False), time.perf_counter() - started)


# --- one size -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SizeFigures:
    """Everything one feed size measured."""

    shape: FeedShape
    first: IngestRun
    floor_s: float
    floor_messages: int
    scripted: ScriptStages
    rerun: IngestRun

    @property
    def ratio(self) -> float:
        """ingest / floor"""
        return self.first.seconds / self.floor_s if self.floor_s else float("inf")

    @property
    def rerun_ratio(self) -> float:
        """re-run / floor"""
        return self.rerun.seconds / self.floor_s if self.floor_s else float("inf")


def measure_size(bench: Bench, products: int, *, sample: bool) -> SizeFigures:
    """Ingest a fresh feed of `products`, enqueue the floor, then ingest it again unchanged."""
    from store.accounts import create_account
    from store.db import make_engine, make_session_factory, session_scope

    # Each size has its own account: re-runs of one size see only that size's earlier jobs.
    engine = make_engine(bench.env["DATABASE_URL"])
    try:
        with session_scope(make_session_factory(engine)) as session:
            account = create_account(session, f"feed-bench-{products}")
    finally:
        engine.dispose()
    bench.headers = {"Authorization": f"Bearer {account.api_key}"}
    tag = f"s{products}-{secrets.token_hex(2)}"
    shape = feed_shape(products)
    feed_url = bench.server.add_merchant_feed(tag, products)
    first = run_ingest(bench, feed_url, sample=sample)
    print(f"  {products}: ingest {first.seconds:.2f} s, {first.jobs} jobs", file=sys.stderr,
          flush=True)
    if first.jobs != shape.jobs:
        print(f"  warning: {first.jobs} jobs, the feed should make {shape.jobs}",
              file=sys.stderr)
    floor_s, floor_messages = run_floor(bench.env["REDIS_URL"], first.jobs)
    print(f"  {products}: floor {floor_s:.2f} s", file=sys.stderr, flush=True)
    scripted = run_script_stages(bench, first.batch_id)
    print(f"  {products}: {scripted.jobs} script stages in {scripted.seconds:.1f} s, "
          f"{scripted.failed} failed", file=sys.stderr, flush=True)
    rerun = run_ingest(bench, feed_url, sample=sample)
    print(f"  {products}: re-run {rerun.seconds:.2f} s, {rerun.jobs} jobs", file=sys.stderr,
          flush=True)
    return SizeFigures(shape, first, floor_s, floor_messages, scripted, rerun)


@contextmanager
def ingest_bench(server: FeedServer, root: Path) -> Iterator[Bench]:
    """A fresh database and Redis DB, migrated, with the Flask app in distributed mode."""
    from api.app import create_app
    from bench.fleet import fleet_env, fresh_database, private_redis_db
    from store.migrate import upgrade
    from store.settings import Settings

    with fresh_database(POSTGRES_ADMIN_URL, f"vf_feedbench_{secrets.token_hex(4)}") as db_url, \
            private_redis_db(REDIS_SERVER_URL) as redis_url:
        upgrade(db_url)
        env = fleet_env(db_url, redis_url, root, REDIS_KEY_PREFIX=KEY_PREFIX,
                        FETCH_ALLOW_HOSTS="127.0.0.1")
        app = create_app(Settings.from_env(env))
        extension = app.extensions["videofactory"]
        try:
            yield Bench(env, app.test_client(), server, extension["dispatcher"].app,
                        extension["services"])
        finally:
            extension["dispatcher"].app.control.purge()
            extension["dispatcher"].app.close()
            extension["services"].close()


# --- time to first video ----------------------------------------------------------------------


@dataclass(frozen=True)
class FirstVideo:
    """A small batch on a real fleet."""

    seconds: float  # from the POST until the first item's job succeeded
    parsed_s: float | None  # from the POST until the batch was read (parsed_at)
    counts: dict[str, int]


def time_to_first_video(server: FeedServer, *, products: int = FIRST_VIDEO_PRODUCTS,
                        quality: str = "draft", timeout: float = 600) -> FirstVideo:
    """Start serve + one cpu and one gpu worker, POST a feed batch, wait for its first video."""
    import requests

    from bench.fleet import (
        fleet_env,
        free_port,
        fresh_database,
        private_redis_db,
        run,
        start,
        stop,
        wait_for_http,
        wait_for_workers,
    )

    with tempfile.TemporaryDirectory(prefix="vf-feedbench-fleet-") as folder, \
            fresh_database(POSTGRES_ADMIN_URL, f"vf_feedbench_{secrets.token_hex(4)}") as db_url, \
            private_redis_db(REDIS_SERVER_URL) as redis_url:
        root = Path(folder)
        logs = root / "logs"
        logs.mkdir()
        port = free_port()
        env = fleet_env(db_url, redis_url, root, API_PORT=str(port), REDIS_KEY_PREFIX=KEY_PREFIX,
                        FETCH_ALLOW_HOSTS="127.0.0.1")
        run(["db", "upgrade"], env)
        api_key = run(["accounts", "create", "feed-bench"], env).strip().splitlines()[-1]
        headers = {"Authorization": f"Bearer {api_key}"}
        base = f"http://127.0.0.1:{port}"
        names = ["gpu-feedbench", "cpu-feedbench"]
        processes = []
        try:
            processes.append(start(["serve"], env, logs / "api.log"))
            for name in names:
                processes.append(start(["worker", "--pool", name[:3], "--name", name,
                                        "--concurrency", "1", "--no-reconcile"], env,
                                       logs / f"{name}.log"))
            wait_for_http(f"{base}/v1/health")
            wait_for_workers(env, names, timeout=120)
            tag = f"first-{secrets.token_hex(2)}"
            feed_url = server.add_merchant_feed(tag, products)
            started = time.monotonic()
            answer = requests.post(f"{base}/v1/batches", headers=headers, timeout=30,
                                   json={"source": {"type": "feed", "url": feed_url},
                                         "quality": quality})
            answer.raise_for_status()
            batch_id = answer.json()["id"]
            return _wait_for_first_video(f"{base}/v1/batches/{batch_id}?limit=500", headers,
                                         started, timeout)
        except Exception:
            for log in sorted(logs.glob("*.log")):  # the folder goes with the fleet
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}",
                      file=sys.stderr)
            raise
        finally:
            stop(processes, grace=30)


def _wait_for_first_video(url: str, headers: Mapping[str, str], started: float,
                          timeout: float) -> FirstVideo:
    import requests

    parsed_s = None
    while time.monotonic() - started < timeout:
        body = requests.get(url, headers=dict(headers), timeout=30).json()
        now = time.monotonic() - started
        if body["status"] == "failed":
            raise RuntimeError(f"the batch failed: {body['error']}")
        if parsed_s is None and body["parsed_at"] is not None:
            parsed_s = now
        if any(item["status"] == "succeeded" for item in body["items"]):
            return FirstVideo(now, parsed_s, body["counts"])
        if body["parsed_at"] and body["items"] and all(
                item["status"] in ("failed", "skipped") for item in body["items"]):
            reasons = [item["reason"] for item in body["items"] if item["reason"]]
            raise RuntimeError(f"every item failed; first: {reasons[:1]}")
        time.sleep(0.25)
    raise RuntimeError(f"no video within {timeout:.0f} s")


# --- printing -------------------------------------------------------------------------------


def print_figures(results: list[SizeFigures], first_video: FirstVideo | None,
                  first_video_note: str, load_before: float) -> None:
    """The tables: one row per size for the first ingest, one for the re-run."""
    print(f"\nfeed ingest: Google Merchant RSS over HTTP on 127.0.0.1, one PNG per product; "
          f"Postgres + Redis; {os.cpu_count()} cores, load average {load_before:.1f} before "
          f"and {os.getloadavg()[0]:.1f} after (others' work skews the figures)")
    print(f"{'products':>8} {'items':>6} {'jobs':>6} {'ingest_s':>9} {'items/s':>8} "
          f"{'floor_s':>8} {'ratio':>6} {'rss_mb':>7} {'base_mb':>7} {'cpu_s':>6} "
          f"{'post_s':>6} {'img_200':>7} {'img_304':>7} {'queued':>6}")
    for fig in results:
        run = fig.first
        print(f"{fig.shape.products:8d} {run.items:6d} {run.jobs:6d} {run.seconds:9.2f} "
              f"{run.items / run.seconds:8.0f} {fig.floor_s:8.2f} {fig.ratio:5.2f}x "
              f"{run.peak_rss_mb:7.0f} {run.baseline_rss_mb:7.0f} {run.cpu_seconds:6.1f} "
              f"{run.post_seconds:6.3f} {run.hits.images:7d} {run.hits.not_modified:7d} "
              f"{run.messages:6d}")
    print("goal: ratio = ingest_s / floor_s <= 2x at 10,000 products "
          "(floor: as many empty five-task chains as jobs, apply_async onto the same Redis)")
    print("rss_mb: peak RSS of the ingest process; base_mb: the same process warmed, before "
          "the POST; queued: messages on Redis afterwards (jobs + the ingest's own)")
    print("\nre-run of the unchanged feed (a new batch)")
    print(f"{'products':>8} {'rerun_s':>8} {'jobs':>5} {'unchanged':>9} {'ratio':>6} "
          f"{'rss_mb':>7} {'cpu_s':>6} {'img_200':>7} {'img_304':>7}")
    for fig in results:
        run = fig.rerun
        print(f"{fig.shape.products:8d} {run.seconds:8.2f} {run.jobs:5d} "
              f"{run.decided.get('unchanged', 0):9d} {fig.rerun_ratio:5.2f}x "
              f"{run.peak_rss_mb:7.0f} {run.cpu_seconds:6.1f} {run.hits.images:7d} "
              f"{run.hits.not_modified:7d}")
    print("goal: jobs = 0 and ratio = rerun_s / floor_s <= 1x")
    for fig in results:
        print(f"between the runs, {fig.scripted.jobs} jobs of the {fig.shape.products}-product "
              f"feed ran their script stage ({fig.scripted.failed} failed), which fetched "
              f"their pictures: {fig.scripted.seconds:.1f} s, not in the figures")
    print("dry run: not measured")
    print("\nwhere ingest_batch's wall time went, seconds. The main thread: read (the feed "
          "fetched and parsed),\ndecide (fingerprint look-up, pictures of items matching an "
          "earlier job revalidated in the pool),\nstore (items and jobs written and committed), "
          "wait (for the sending thread after the last chunk).\nThe sending thread, alongside: "
          "dispatch (marks and chains sent).")
    print(f"{'products':>8} {'run':>7} " + " ".join(f"{name:>8}" for name in PHASES)
          + f" {'ms/item':>8}")
    for fig in results:
        for label, run in (("first", fig.first), ("re-run", fig.rerun)):
            print(f"{fig.shape.products:8d} {label:>7} "
                  + " ".join(f"{run.phases[name]:8.2f}" for name in PHASES)
                  + f" {1000 * run.seconds / max(1, run.items):8.2f}")
    if first_video is not None:
        parsed = (f", batch read after {first_video.parsed_s:.1f} s"
                  if first_video.parsed_s is not None else "")
        print(f"\ntime to first video ({FIRST_VIDEO_PRODUCTS}-product feed batch, draft, "
              f"1 cpu + 1 gpu worker): {first_video.seconds:.1f} s from the POST{parsed}")
    else:
        print(f"\ntime to first video: {first_video_note}")
    for fig in results:
        for label, run in (("first ingest", fig.first), ("re-run", fig.rerun)):
            if run.profile:
                print(f"\nprofile of the {label} at {fig.shape.products} products "
                      f"(wall {run.seconds:.2f} s):\n{run.profile}")


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # run the finally blocks: drop the database, stop the workers


def main(argv: list[str] | None = None) -> None:
    """Measure and print; clean up whatever happens."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES),
                        help="feed sizes in products (default: 1000 10000)")
    parser.add_argument("--first-video", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the first video of a 20-product batch on a fleet")
    parser.add_argument("--first-video-timeout", type=float, default=600)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 200 products, no first video")
    parser.add_argument("--image-max-age", type=int, default=86400, metavar="SECONDS",
                        help="serve pictures with Cache-Control max-age, as CDNs do "
                             "(default a day; 0: none, and every re-run then revalidates "
                             "every picture)")
    parser.add_argument("--profile", action="store_true",
                        help="sample the ingest's threads at the largest size and print it")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.first_video = list(QUICK_SIZES), False
    if any(size < 1 for size in args.sizes):
        parser.error("--sizes: each size must be at least 1")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    _Handler.max_age = args.image_max_age
    served = (f"Cache-Control: max-age={args.image_max_age}" if args.image_max_age
              else "no Cache-Control (every re-run revalidates every picture)")
    print(f"pictures served with {served}")
    load_before = os.getloadavg()[0]

    results: list[SizeFigures] = []
    first_video, note = None, "skipped (--no-first-video)"
    with FeedServer() as server, tempfile.TemporaryDirectory(prefix="vf-feedbench-") as folder:
        with ingest_bench(server, Path(folder)) as bench:
            for size in args.sizes:
                results.append(measure_size(bench, size,
                                            sample=args.profile and size == max(args.sizes)))
        if args.first_video:
            first_video = time_to_first_video(server, timeout=args.first_video_timeout)
    print_figures(results, first_video, note, load_before)


if __name__ == "__main__":
    main()
