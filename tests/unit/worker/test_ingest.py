"""worker.batches.ingest_batch on real feeds and pictures from a server on 127.0.0.1: a first
run fetches no picture (each job's script stage does), re-runs make only what changed,
pictures of matching items are revalidated conditionally against the content hashes their
earlier job used, and a poisoned item fails alone. Batches are created through the real API
(whose queue only records); the ingest is then called directly, with a list recording the
dispatched jobs, and the jobs' real script stages are run where a test needs their pictures."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from api.app import create_app
from store.models import Batch, BatchItem, Job
from store.services import Services
from store.settings import Settings
from tests.support.feeds import (
    FeedServer,
    feed_server,
    merchant_item,
    merchant_rss,
    picture,
    png_claiming,
    stored_fetched,
)
from tests.support.jobs import migrated_services, run_script_stage
from tests.unit.api.conftest import Api, new_account
from worker import batches as worker_batches
from worker.batches import ingest_batch

COLOURS = [(200, 30, 30), (30, 180, 60), (40, 60, 210), (230, 210, 20), (120, 20, 160),
           (20, 160, 170), (250, 130, 0), (90, 90, 90)]


@dataclass
class QueueOnly:
    """The queue's double: remembers what the API sent and runs nothing."""

    ingests: list[str] = field(default_factory=list)
    dispatched: list[str] = field(default_factory=list)

    def ingest(self, batch_id: str) -> None:
        self.ingests.append(batch_id)

    def dispatch(self, job_id: str, from_stage: str | None = None) -> None:
        self.dispatched.append(job_id)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    settings = Settings.from_env({"DATA_DIR": str(tmp_path / "data"),
                                  "FETCH_ALLOW_HOSTS": "127.0.0.1", "FETCH_TIMEOUT": "5"})
    with migrated_services(settings) as svc:
        yield svc


@pytest.fixture
def queue() -> QueueOnly:
    return QueueOnly()


@pytest.fixture
def client(services: Services, queue: QueueOnly) -> FlaskClient:
    return create_app(services=services, dispatcher=queue).test_client()


@pytest.fixture
def api(client: FlaskClient, services: Services) -> Api:
    return Api(client, new_account(services))


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as state:
        yield state


# --- helpers -------------------------------------------------------------------------------

@dataclass
class Run:
    batch_id: str
    dispatched: list[str]
    items: list[BatchItem]

    def item(self, key: str) -> BatchItem:
        return next(item for item in self.items if item.key == key)

    def statuses(self) -> dict[str, str]:
        return {item.key: item.status for item in self.items}


def submit(api: Api, queue: QueueOnly, url: str, **extra: Any) -> str:
    response = api.client.post("/v1/batches", json={"source": {"type": "feed", "url": url},
                                                    **extra}, headers=api.headers)
    assert response.status_code == 202, response.get_json()
    assert queue.ingests[-1] == response.get_json()["id"]
    return str(response.get_json()["id"])


def ingest(services: Services, batch_id: str, scratch: Path) -> Run:
    """Run the real ingest of the batch; what it dispatched and the items it wrote."""
    dispatched: list[str] = []
    ingest_batch(services, batch_id, dispatch=dispatched.extend, scratch=scratch / batch_id)
    return Run(batch_id, dispatched, items_of(services, batch_id))


def items_of(services: Services, batch_id: str) -> list[BatchItem]:
    with services.sessions() as session:
        rows = list(session.scalars(select(BatchItem).where(BatchItem.batch_id == batch_id)
                                    .order_by(BatchItem.position)))
        for row in rows:
            session.expunge(row)
        return rows


def run(api: Api, queue: QueueOnly, services: Services, url: str, scratch: Path,
        **extra: Any) -> Run:
    return ingest(services, submit(api, queue, url, **extra), scratch)


def job(services: Services, job_id: str) -> Job:
    with services.sessions() as session:
        row = session.get(Job, job_id)
        assert row is not None
        session.expunge(row)
        return row


def job_count(services: Services) -> int:
    with services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


def set_status(services: Services, job_id: str, status: str) -> None:
    with services.sessions() as session:
        row = session.get(Job, job_id)
        assert row is not None
        row.status = status
        session.commit()


def batch_row(services: Services, batch_id: str) -> Batch:
    with services.sessions() as session:
        row = session.get(Batch, batch_id)
        assert row is not None
        session.expunge(row)
        return row


@dataclass
class Shop:
    """A feed of products, each with its own picture, that a test can change and serve."""

    server: FeedServer
    products: dict[str, dict[str, str]]

    def picture_path(self, sku: str) -> str:
        return f"/img/{sku}.png"

    def publish(self) -> str:
        rows = [merchant_item(id=sku, **fields, image=self.server.url(self.picture_path(sku)))
                for sku, fields in self.products.items()]
        return self.server.serve("/feed.xml", merchant_rss(*rows))


def shop(server: FeedServer, count: int = 3) -> Shop:
    names = ["Oak Cutting Board", "Copper Kettle", "Wool Throw Blanket", "Glass Carafe",
             "Cast Iron Pan", "Bamboo Steamer", "Linen Apron"]
    products = {f"SKU-{n}": {"title": names[n], "price": f"{20 + n}.00 USD",
                             "description": f"{names[n]} for everyday cooking."}
                for n in range(count)}
    for n, sku in enumerate(products):
        server.serve(f"/img/{sku}.png", picture(COLOURS[n]))
    return Shop(server, products)


# --- 2: a re-run of the same feed ----------------------------------------------------------

def test_a_first_run_fetches_no_picture(api: Api, queue: QueueOnly, services: Services,
                                        server: FeedServer, tmp_path: Path) -> None:
    """The ingest reads the feed and enqueues: each job's script stage fetches its pictures,
    on a worker, and keeps them by content hash."""
    feed = shop(server)
    first = run(api, queue, services, feed.publish(), tmp_path)
    assert [i.status for i in first.items] == ["job"] * 3
    assert first.dispatched == [i.job_id for i in first.items]
    assert server.paths() == ["/feed.xml"] and stored_fetched(services.settings.media_root) == []
    for n, item in enumerate(first.items):
        made = job(services, item.job_id or "")
        assert made.source["images"] == [server.url(feed.picture_path(item.key))]
        assert "image_keys" not in made.options
        [key] = run_script_stage(services, made.id)
        assert services.media.read_bytes(key) == picture(COLOURS[n])
    assert len(stored_fetched(services.settings.media_root)) == 3


def test_rerun_of_the_same_feed_makes_nothing_and_revalidates_pictures(
        api: Api, queue: QueueOnly, services: Services, server: FeedServer,
        tmp_path: Path) -> None:
    """Every item is unchanged with the first run's job (queued, running or succeeded);
    each picture a job has used is asked for with If-None-Match, answered 304, and nothing
    is stored anew. A job that has not fetched its pictures yet is not asked about."""
    feed = shop(server)
    url = feed.publish()
    first = run(api, queue, services, url, tmp_path)
    for item in first.items[:2]:
        run_script_stage(services, item.job_id or "")
    set_status(services, first.items[0].job_id or "", "succeeded")
    stored = stored_fetched(services.settings.media_root)
    assert len(stored) == 2
    for item in first.items[:2]:
        seen = server.seen(feed.picture_path(item.key))
        assert [(s.status, s.headers.get("If-None-Match")) for s in seen] == [(200, None)]

    server.forget()
    again = run(api, queue, services, url, tmp_path)
    assert again.batch_id != first.batch_id
    assert again.dispatched == [] and job_count(services) == 3
    assert [(i.key, i.status, i.job_id) for i in again.items] == [
        (i.key, "unchanged", i.job_id) for i in first.items]
    assert [i.fingerprint for i in again.items] == [i.fingerprint for i in first.items]
    for item in first.items[:2]:
        seen = server.seen(feed.picture_path(item.key))
        assert len(seen) == 1 and seen[0].status == 304
        assert seen[0].headers["If-None-Match"].startswith('"')
    assert server.seen(feed.picture_path(first.items[2].key)) == []
    assert stored_fetched(services.settings.media_root) == stored
    assert batch_row(services, again.batch_id).status == "running"


def test_a_fresh_picture_is_not_asked_about_again(api: Api, queue: QueueOnly,
                                                  services: Services, server: FeedServer,
                                                  tmp_path: Path) -> None:
    """A picture served with Cache-Control max-age is trusted until then: the re-run sends
    no request for it at all."""
    feed = shop(server, 2)
    for n, sku in enumerate(feed.products):
        server.serve(feed.picture_path(sku), picture(COLOURS[n]),
                     **{"Cache-Control": "public, max-age=3600"})
    url = feed.publish()
    first = run(api, queue, services, url, tmp_path)
    for item in first.items:
        run_script_stage(services, item.job_id or "")
    server.forget()
    again = run(api, queue, services, url, tmp_path)
    assert [i.status for i in again.items] == ["unchanged", "unchanged"]
    assert server.paths() == ["/feed.xml"]


def test_a_failed_earlier_job_is_made_again(api: Api, queue: QueueOnly, services: Services,
                                            server: FeedServer, tmp_path: Path) -> None:
    """Only queued, running and succeeded jobs are reused: a failed one is made anew."""
    url = shop(server, 2).publish()
    first = run(api, queue, services, url, tmp_path)
    set_status(services, first.items[0].job_id or "", "failed")
    again = run(api, queue, services, url, tmp_path)
    assert [i.status for i in again.items] == ["job", "unchanged"]
    assert again.dispatched == [again.items[0].job_id]
    assert again.items[0].job_id != first.items[0].job_id
    assert again.items[1].job_id == first.items[1].job_id


def test_another_account_never_reuses_the_first_accounts_jobs(
        api: Api, queue: QueueOnly, services: Services, server: FeedServer,
        tmp_path: Path) -> None:
    url = shop(server, 2).publish()
    first = run(api, queue, services, url, tmp_path)
    other = Api(api.client, new_account(services, "other shop"))
    theirs = run(other, queue, services, url, tmp_path)
    assert [i.status for i in theirs.items] == ["job", "job"]
    assert not {i.job_id for i in theirs.items} & {i.job_id for i in first.items}
    assert {job(services, j).account_id for j in theirs.dispatched} == {
        other.account.account_id}


# --- 3: changes make exactly the videos that changed -----------------------------------------

def test_a_changed_price_makes_exactly_one_job(api: Api, queue: QueueOnly, services: Services,
                                               server: FeedServer, tmp_path: Path) -> None:
    feed = shop(server)
    first = run(api, queue, services, feed.publish(), tmp_path)
    feed.products["SKU-1"]["price"] = "19.50 USD"
    again = run(api, queue, services, feed.publish(), tmp_path)
    assert again.statuses() == {"SKU-0": "unchanged", "SKU-1": "job", "SKU-2": "unchanged"}
    assert again.dispatched == [again.item("SKU-1").job_id]
    assert again.item("SKU-1").job_id != first.item("SKU-1").job_id
    assert job(services, again.dispatched[0]).source["price"] == "19.50"
    assert job_count(services) == 4


def test_new_bytes_at_the_same_picture_url_make_exactly_one_job(
        api: Api, queue: QueueOnly, services: Services, server: FeedServer,
        tmp_path: Path) -> None:
    """The URL stays, its bytes change: the conditional fetch gets 200 with the new bytes,
    whose hash differs from the one the earlier job used, so that one product is made again
    (and its script stage uses the new bytes)."""
    feed = shop(server)
    url = feed.publish()
    first = run(api, queue, services, url, tmp_path)
    for item in first.items:
        run_script_stage(services, item.job_id or "")
    before = stored_fetched(services.settings.media_root)
    new_bytes = picture((255, 255, 255))
    server.serve(feed.picture_path("SKU-2"), new_bytes)
    server.forget()
    again = run(api, queue, services, url, tmp_path)
    assert again.statuses() == {"SKU-0": "unchanged", "SKU-1": "unchanged", "SKU-2": "job"}
    assert len(again.dispatched) == 1
    [seen] = server.seen(feed.picture_path("SKU-2"))
    assert seen.status == 200 and seen.headers.get("If-None-Match")
    after = stored_fetched(services.settings.media_root)
    assert set(before) < set(after) and len(after) == len(before) + 1
    [key] = run_script_stage(services, again.dispatched[0])
    assert services.media.read_bytes(key) == new_bytes
    # The next day nothing changed: the new job is the one its fingerprint finds.
    third = run(api, queue, services, url, tmp_path)
    assert third.dispatched == [] and third.item("SKU-2").job_id == again.dispatched[0]


def test_a_changed_look_makes_everything_again(api: Api, queue: QueueOnly,
                                               services: Services, server: FeedServer,
                                               tmp_path: Path) -> None:
    """Options that shape the video (here the preset and quality) are in the fingerprint."""
    url = shop(server, 2).publish()
    run(api, queue, services, url, tmp_path)
    other_preset = run(api, queue, services, url, tmp_path, preset="shorts")
    other_quality = run(api, queue, services, url, tmp_path, quality="draft")
    assert [i.status for i in other_preset.items] == ["job", "job"]
    assert [i.status for i in other_quality.items] == ["job", "job"]
    assert job_count(services) == 6
    # The script's generator and the visuals shape it too; their defaults change nothing.
    same = run(api, queue, services, url, tmp_path, visuals="auto", script={})
    assert [i.status for i in same.items] == ["unchanged", "unchanged"]
    other_visuals = run(api, queue, services, url, tmp_path, visuals="generated")
    assert [i.status for i in other_visuals.items] == ["job", "job"]


def test_equal_bytes_are_stored_once(api: Api, queue: QueueOnly, services: Services,
                                     server: FeedServer, tmp_path: Path) -> None:
    """Two URLs serving the same picture share one fetched object."""
    same = picture((10, 120, 200))
    rows = [merchant_item(id=f"S{n}", title=f"Blue product {n}", price="3.00 USD",
                          image=server.serve(f"/same{n}.png", same)) for n in range(2)]
    first = run(api, queue, services, server.serve("/f.xml", merchant_rss(*rows)), tmp_path)
    keys = {key for j in first.dispatched for key in run_script_stage(services, j)}
    assert len(keys) == 1 and len(stored_fetched(services.settings.media_root)) == 1


# --- 6: a poisoned item fails alone ---------------------------------------------------------

def test_poisoned_items_fail_alone(api: Api, queue: QueueOnly, services: Services,
                                   server: FeedServer, tmp_path: Path) -> None:
    """Each hostile or broken picture fails its own item with the reason; the good items of
    the same feed get their jobs. A URL at a forbidden address is refused by the ingest,
    unfetched; what only fetching shows (a redirect to one, a pixel bomb, a web page, a 404)
    fails that item's job at its script stage, and the batch names the reason."""
    port = server.port
    refused_now = {
        "METADATA": ("http://169.254.169.254/x.png", "metadata"),
        "PRIVATE": ("http://10.0.0.5/x.png", "private address"),
        # 127.0.0.2 in decimal: loopback, and not the allowed 127.0.0.1.
        "DECIMAL": (f"http://2130706434:{port}/x.png", "loopback"),
        "HEX": (f"http://0x7f000002:{port}/x.png", "loopback"),
    }
    refused_when_fetched = {
        "REDIRECT": (server.redirect("/go", "http://169.254.169.254/latest/meta-data/"),
                     "metadata"),
        "BOMB": (server.serve("/bomb.png", png_claiming(20000, 20000)), "pixels"),
        "HTML": (server.serve("/page.png", b"<html><body>not a picture</body></html>"),
                 "not a picture"),
        "MISSING": (server.url("/gone.png"), "404"),
    }
    bad = {**refused_now, **refused_when_fetched}
    good = {f"GOOD-{n}": server.serve(f"/good{n}.png", picture(COLOURS[n])) for n in range(2)}
    rows = [merchant_item(id="GOOD-0", title="Good product zero", price="5.00 USD",
                          image=good["GOOD-0"])]
    rows += [merchant_item(id=sku, title=f"Poisoned {sku.lower()}", price="5.00 USD",
                           image=image) for sku, (image, _) in bad.items()]
    # A product with one good picture and one refused keeps the good one, noting the other.
    rows.append(merchant_item(id="GOOD-1", title="Good product one", price="5.00 USD",
                              image=good["GOOD-1"],
                              extra_images=("http://169.254.169.254/y.png",)))
    result = run(api, queue, services, server.serve("/poison.xml", merchant_rss(*rows)),
                 tmp_path)

    assert result.statuses() == {"GOOD-0": "job", **dict.fromkeys(refused_now, "failed"),
                                 **dict.fromkeys(refused_when_fetched, "job"), "GOOD-1": "job"}
    for sku, (image, why) in refused_now.items():
        item = result.item(sku)
        assert item.job_id is None
        assert item.reason and item.reason.startswith("no picture could be used: ")
        assert why in item.reason and image in item.reason, (sku, item.reason)
    one = job(services, result.item("GOOD-1").job_id or "")
    assert one.source["images"] == [good["GOOD-1"]]
    assert "169.254.169.254/y.png" in (result.item("GOOD-1").reason or "")
    assert server.paths() == ["/poison.xml"]  # nothing but the feed before the jobs run

    for item in result.items:
        if item.job_id:
            run_script_stage(services, item.job_id)
    page = api.client.get(f"/v1/batches/{result.batch_id}", headers=api.headers).get_json()
    reported = {item["key"]: item for item in page["items"]}
    assert {key: reported[key]["status"] for key in bad} == dict.fromkeys(bad, "failed")
    for sku, (image, why) in refused_when_fetched.items():
        failed = job(services, result.item(sku).job_id or "")
        assert (failed.status, failed.error_stage, failed.error_code) == (
            "failed", "script", "image_refused"), sku
        reason = reported[sku]["reason"]
        assert reason.startswith("script stage failed: no picture of the product could be "
                                 "used: "), reason
        # The refused URL is named: the picture's own, or for a redirect the hop refused.
        assert why in reason and (image if sku != "REDIRECT" else "169.254.169.254/latest"
                                  ) in reason, (sku, reason)
    assert job(services, result.item("GOOD-0").job_id or "").status == "running"
    # The refused addresses were never connected to; the server saw only its own paths.
    assert set(server.paths()) <= {"/poison.xml", "/go", "/bomb.png", "/page.png",
                                   "/gone.png", "/good0.png", "/good1.png"}
    assert "/x.png" not in server.paths()
    # Nothing refused was kept: only the two good pictures are stored.
    assert len(stored_fetched(services.settings.media_root)) == 2


def test_the_allow_list_admits_only_the_host_as_written(
        api: Api, queue: QueueOnly, services: Services, server: FeedServer,
        tmp_path: Path) -> None:
    """FETCH_ALLOW_HOSTS=127.0.0.1 admits that spelling only: 127.0.0.1 written in decimal,
    and a redirect to localhost, are loopback addresses like any other."""
    port = server.port
    server.serve("/x.png", picture((1, 2, 3)))
    rows = [merchant_item(id="DEC", title="Decimal loopback", price="1.00 USD",
                          image=f"http://2130706433:{port}/x.png"),
            merchant_item(id="LOCALHOST", title="Redirect to localhost", price="1.00 USD",
                          image=server.redirect("/to-localhost",
                                                f"http://localhost:{port}/x.png"))]
    result = run(api, queue, services, server.serve("/f.xml", merchant_rss(*rows)), tmp_path)
    assert result.statuses() == {"DEC": "failed", "LOCALHOST": "job"}
    assert "127.0.0.1, a loopback address" in (result.item("DEC").reason or "")
    redirected = result.item("LOCALHOST").job_id or ""
    assert run_script_stage(services, redirected) == []
    assert "localhost is 127.0.0.1, a loopback address" in (
        job(services, redirected).error_message or "")
    assert "/x.png" not in server.paths()


# --- how the ingest runs ---------------------------------------------------------------------

def test_jobs_are_dispatched_chunk_by_chunk(api: Api, queue: QueueOnly, services: Services,
                                            server: FeedServer, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Each chunk's jobs are enqueued once committed (by a thread of their own, while the
    next chunk is read), in feed order; ingest_batch returns when every chunk is sent."""
    monkeypatch.setattr(worker_batches, "CHUNK_ITEMS", 2)
    feed = shop(server, 5)
    batch_id = submit(api, queue, feed.publish())
    sent: list[tuple[list[str], int, str]] = []

    def dispatch(job_ids: list[str]) -> None:
        with services.sessions() as session:  # another connection sees only what committed
            committed = session.scalar(select(func.count()).select_from(Job)
                                       .where(Job.id.in_(job_ids)))
        sent.append((job_ids, int(committed or 0), threading.current_thread().name))

    ingest_batch(services, batch_id, dispatch=dispatch, scratch=tmp_path / "scratch")
    items = items_of(services, batch_id)
    assert [(i.position, i.key) for i in items] == [(n, f"SKU-{n}") for n in range(5)]
    assert [ids for ids, _, _ in sent] == [[i.job_id for i in items[k:k + 2]]
                                           for k in (0, 2, 4)]
    assert [committed for _, committed, _ in sent] == [2, 2, 1]
    assert {thread for _, _, thread in sent} != {threading.current_thread().name}
    assert batch_row(services, batch_id).parsed == 5


def test_a_redelivered_ingest_does_nothing(api: Api, queue: QueueOnly, services: Services,
                                           server: FeedServer, tmp_path: Path) -> None:
    url = shop(server, 2).publish()
    first = run(api, queue, services, url, tmp_path)
    server.forget()
    again = ingest(services, first.batch_id, tmp_path / "again")
    assert again.dispatched == [] and server.paths() == []
    assert [(i.id, i.job_id) for i in again.items] == [(i.id, i.job_id) for i in first.items]


def test_two_deliveries_arriving_together_write_every_item_once(
        api: Api, queue: QueueOnly, services: Services, server: FeedServer,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same ingest message delivered twice at once (a redelivery, a reconciler's re-send):
    one delivery takes the batch's lease and reads it, the other returns at once."""
    monkeypatch.setattr(worker_batches, "CHUNK_ITEMS", 2)
    batch_id = submit(api, queue, shop(server, 5).publish())
    start = threading.Barrier(4)
    sent: list[list[str]] = []
    for _ in range(5):  # loops: a race that lets both in shows up within a few tries
        with services.sessions() as session:
            session.execute(BatchItem.__table__.delete().where(BatchItem.batch_id == batch_id))
            row = session.get(Batch, batch_id)
            assert row is not None
            row.status = "queued"
            session.commit()
        sent.clear()

        def deliver() -> None:
            start.wait()
            ingest_batch(services, batch_id, dispatch=sent.append, scratch=tmp_path / "s")

        threads = [threading.Thread(target=deliver) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        start.reset()
        items = items_of(services, batch_id)
        assert [i.position for i in items] == [0, 1, 2, 3, 4]
        assert sum(len(chunk) for chunk in sent) == 5
        assert batch_row(services, batch_id).status == "running"
    assert services.locks.holder(f"ingest:{batch_id}") is None  # released when done


def test_a_batch_held_by_a_live_reader_is_left_to_it(
        api: Api, queue: QueueOnly, services: Services, server: FeedServer,
        tmp_path: Path) -> None:
    """While another reader's lease lives, a delivery writes nothing; once that reader is
    gone (its lease expired) the next delivery reads the batch."""
    batch_id = submit(api, queue, shop(server, 2).publish())
    assert services.locks.acquire(f"ingest:{batch_id}", "a reader that died", 0.3)
    held = ingest(services, batch_id, tmp_path)
    assert held.items == [] and held.dispatched == []
    time.sleep(0.4)
    taken = ingest(services, batch_id, tmp_path)
    assert [i.key for i in taken.items] == ["SKU-0", "SKU-1"] and len(taken.dispatched) == 2


def test_a_resumed_ingest_after_the_limit_writes_no_item_twice(
        api: Api, queue: QueueOnly, services: Services, server: FeedServer,
        tmp_path: Path) -> None:
    """A worker that died after writing every item (before marking the batch read) gets
    the message again: the resumed ingest must skip what was written, also when products
    past the limit were read and left out."""
    feed = shop(server, 3)
    rows = [merchant_item(id=sku, **fields, image=server.url(feed.picture_path(sku)))
            for sku, fields in feed.products.items()]
    rows.append(merchant_item(id="BROKEN", price="2.00 USD"))  # no title: a failed item
    url = server.serve("/feed.xml", merchant_rss(*rows))
    first = run(api, queue, services, url, tmp_path, limit=2)
    assert [(i.position, i.key, i.status) for i in first.items] == [
        (0, "SKU-0", "job"), (1, "SKU-1", "job"), (2, "item 4", "failed")]
    with services.sessions() as session:  # as if the worker died before the last commit
        batch = session.get(Batch, first.batch_id)
        assert batch is not None
        batch.status = "parsing"
        session.commit()
    again = ingest(services, first.batch_id, tmp_path / "again")
    assert again.dispatched == []
    assert [(i.position, i.key) for i in again.items] == [(i.position, i.key)
                                                         for i in first.items]
    assert batch_row(services, first.batch_id).status == "running"


def test_a_feed_that_breaks_midway_fails_the_batch_but_keeps_the_items_read(
        api: Api, queue: QueueOnly, services: Services, server: FeedServer,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Malformed XML after some items: the chunks already written stay (and their jobs were
    sent), and the batch fails with invalid_feed and how far it got."""
    monkeypatch.setattr(worker_batches, "CHUNK_ITEMS", 1)
    feed = shop(server, 2)
    good = merchant_rss(*(merchant_item(id=sku, **fields,
                                        image=server.url(feed.picture_path(sku)))
                          for sku, fields in feed.products.items()))
    broken = good.replace(b"</channel></rss>", b"<item><title>oops</item></channel></rss>")
    result = run(api, queue, services, server.serve("/broken.xml", broken), tmp_path)
    batch = batch_row(services, result.batch_id)
    assert (batch.status, batch.error_code) == ("failed", "invalid_feed")
    assert "line" in (batch.error_message or "")
    assert [i.key for i in result.items] == ["SKU-0", "SKU-1"]
    assert result.dispatched == [i.job_id for i in result.items]
