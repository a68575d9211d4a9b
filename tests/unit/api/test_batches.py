"""POST /v1/batches and GET /v1/batches[/<id>]: real feeds from a server on 127.0.0.1, real
SQLite, real media storage; only the queue is a double (its `ingest` reads the batch at once
with the real ingest, its `dispatch` records the jobs instead of rendering them)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

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
    shopify_product,
    shopify_products,
    stored_fetched,
)
from tests.support.jobs import run_script_stage
from tests.unit.api.conftest import Api, new_account
from tests.unit.api.test_uploads import post_upload
from worker.batches import ingest_batch

RED, GREEN, BLUE, YELLOW = (220, 30, 30), (30, 200, 60), (40, 60, 220), (240, 220, 20)


@dataclass
class IngestingDispatcher:
    """The queue's double: `ingest` runs the real ingest now, `dispatch` only records."""

    services: Services
    dispatched: list[str] = field(default_factory=list)
    ingested: list[str] = field(default_factory=list)

    def dispatch(self, job_id: str, from_stage: str | None = None) -> None:
        self.dispatched.append(job_id)

    def ingest(self, batch_id: str) -> None:
        self.ingested.append(batch_id)
        scratch = self.services.media.scratch_dir("batches", batch_id)
        try:
            ingest_batch(self.services, batch_id, self.dispatched.extend, scratch)
        finally:
            self.services.media.discard_scratch(scratch)


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Settings:
    """Embedded settings that let the fetcher reach the test server on 127.0.0.1."""
    return Settings.from_env({"DATA_DIR": str(tmp_path / "data"),
                              "FETCH_ALLOW_HOSTS": "127.0.0.1", "FETCH_TIMEOUT": "5"})


@pytest.fixture
def dispatcher(services: Services) -> IngestingDispatcher:  # type: ignore[override]
    return IngestingDispatcher(services)


@pytest.fixture
def app(services: Services, dispatcher: IngestingDispatcher) -> Flask:
    return create_app(services=services, dispatcher=dispatcher)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as state:
        yield state


# --- helpers -------------------------------------------------------------------------------

def assert_error(response: Any, status: int, code: str, field: str | None = None
                 ) -> dict[str, Any]:
    """The one error shape: {"error": {"code", "message", "field"?}}."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == ({"code", "message", "field"} if field else {"code", "message"})
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    if field:
        assert error["field"] == field
    return dict(error)


def post_batch(api: Api, source: dict[str, Any], **extra: Any) -> Any:
    return api.client.post("/v1/batches", json={"source": source, **extra}, headers=api.headers)


def accepted(api: Api, source: dict[str, Any], **extra: Any) -> str:
    response = post_batch(api, source, **extra)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "queued"
    assert body["id"].startswith("bat_")
    assert body["url"] == f"/v1/batches/{body['id']}" == response.headers["Location"]
    return str(body["id"])


def get_batch(api: Api, batch_id: str, query: str = "") -> dict[str, Any]:
    response = api.get(f"/v1/batches/{batch_id}{query}")
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def jobs_of(services: Services, job_ids: list[str]) -> dict[str, Job]:
    with services.sessions() as session:
        rows = session.scalars(select(Job).where(Job.id.in_(job_ids))).all()
        for row in rows:
            session.expunge(row)
        return {row.id: row for row in rows}


def all_jobs(services: Services) -> list[Job]:
    with services.sessions() as session:
        rows = list(session.scalars(select(Job)).all())
        for row in rows:
            session.expunge(row)
        return rows


def set_job(services: Services, job_id: str, status: str, stage: str | None = None,
            message: str | None = None) -> None:
    with services.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.status, job.error_stage, job.error_message = status, stage, message
        session.commit()


def post_feed_upload(api: Api, data: bytes, filename: str) -> Any:
    """POST a feed file to /v1/uploads?kind=feed."""
    return api.client.post(f"/v1/uploads?kind=feed&filename={filename}", data=data,
                           headers=api.headers, content_type="application/octet-stream")


def feed_source(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "feed", "url": url, **extra}


@dataclass
class ShopFeed:
    """The feed of test 1 and its pictures."""

    url: str
    images: dict[str, bytes]  # URL -> bytes served


def shop_feed(server: FeedServer) -> ShopFeed:
    """Five rows: a product, two variants of a shirt (one group), one out of stock, one
    without a title."""
    img = {name: server.serve(f"/img/{name}.png", picture(colour))
           for name, colour in (("desk", RED), ("shirt-s", GREEN), ("mug", BLUE),
                                ("shirt-m", YELLOW))}
    images = {server.url(route): server.routes[route].body for route in server.routes}
    feed = merchant_rss(
        merchant_item(id="DESK-1", title="Walnut Desk Organizer", price="34.00 USD",
                      image=img["desk"], description="Keeps pens and cables tidy."),
        merchant_item(id="SHIRT-S", title="Linen Shirt - Small", price="49.00 USD",
                      image=img["shirt-s"], group="SHIRT"),
        merchant_item(id="MUG-1", title="Ceramic Mug", price="12.00 USD", image=img["mug"],
                      availability="out of stock"),
        merchant_item(id="NOTITLE-1", price="5.00 USD", image=img["mug"]),
        merchant_item(id="SHIRT-M", title="Linen Shirt - Medium", price="45.00 USD",
                      image=img["shirt-m"], group="SHIRT"),
    )
    return ShopFeed(server.serve("/feed.xml", feed), images)


# --- 1: a Merchant feed becomes one job per product ---------------------------------------

def test_merchant_feed_makes_one_job_per_product(api: Api, services: Services,
                                                 server: FeedServer,
                                                 dispatcher: IngestingDispatcher) -> None:
    """Variants are one item, out of stock is skipped, a row without a title fails alone;
    each made item's job has the served pictures, which its script stage fetches and keeps."""
    feed = shop_feed(server)
    batch_id = accepted(api, feed_source(feed.url))
    assert dispatcher.ingested == [batch_id]

    body = get_batch(api, batch_id)
    assert body["status"] == "running"
    assert body["format"] == "merchant_xml"
    assert body["parsed"] == 4
    assert body["error"] is None and body["dry_run"] is False
    assert body["counts"] == {"total": 4, "queued": 2, "running": 0, "succeeded": 0,
                              "failed": 1, "unchanged": 0, "skipped": 1, "planned": 0}
    assert body["next"] is None
    items = {item["key"]: item for item in body["items"]}
    assert [item["key"] for item in body["items"]] == ["DESK-1", "MUG-1", "item 4", "SHIRT"]
    assert items["DESK-1"]["title"] == "Walnut Desk Organizer"
    assert items["DESK-1"]["status"] == "queued" and items["DESK-1"]["reason"] is None
    assert items["SHIRT"]["title"] == "Linen Shirt"
    assert items["SHIRT"]["status"] == "queued"
    assert items["MUG-1"] == {"key": "MUG-1", "title": "Ceramic Mug", "status": "skipped",
                              "job_id": None, "video_url": None, "reason": "out of stock"}
    assert items["item 4"]["status"] == "failed" and items["item 4"]["job_id"] is None
    assert "no title" in items["item 4"]["reason"]

    job_ids = [items["DESK-1"]["job_id"], items["SHIRT"]["job_id"]]
    assert all(job_ids) and len(set(job_ids)) == 2
    assert dispatcher.dispatched == job_ids
    jobs = jobs_of(services, job_ids)
    assert len(all_jobs(services)) == 2
    desk, shirt = jobs[job_ids[0]], jobs[job_ids[1]]
    assert desk.source["type"] == shirt.source["type"] == "product"
    assert desk.source["title"] == "Walnut Desk Organizer"
    assert (desk.source["price"], desk.source["currency"]) == ("34.00", "USD")
    assert shirt.source["title"] == "Linen Shirt"
    assert shirt.source["price"] == "45.00"  # the cheapest variant
    assert shirt.source["images"] == [server.url("/img/shirt-s.png"),
                                      server.url("/img/shirt-m.png")]
    assert desk.account_id == api.account.account_id and desk.status == "queued"
    assert server.paths() == ["/feed.xml"]  # the ingest fetches no picture
    for job in (desk, shirt):
        keys = run_script_stage(services, job.id)
        assert len(keys) == len(job.source["images"])
        for url, key in zip(job.source["images"], keys, strict=True):
            assert key.startswith("fetched/") and key.endswith(".png")
            assert services.media.read_bytes(key) == feed.images[url]
    # The out-of-stock mug's picture was never needed, so never fetched.
    assert server.seen("/img/mug.png") == []
    assert len(stored_fetched(services.settings.media_root)) == 3


# --- 4, 5: dry run and limit ----------------------------------------------------------------

def test_dry_run_plans_and_makes_nothing(api: Api, services: Services, server: FeedServer,
                                         dispatcher: IngestingDispatcher) -> None:
    """A dry run reports each product as planned, writes no job and dispatches nothing."""
    feed = shop_feed(server)
    body = get_batch(api, accepted(api, feed_source(feed.url), dry_run=True))
    assert body["dry_run"] is True
    assert body["counts"]["planned"] == 2
    assert {k: body["counts"][k] for k in ("total", "queued", "failed", "skipped")} == {
        "total": 4, "queued": 0, "failed": 1, "skipped": 1}
    assert [(i["key"], i["status"]) for i in body["items"]] == [
        ("DESK-1", "planned"), ("MUG-1", "skipped"), ("item 4", "failed"), ("SHIRT", "planned")]
    assert all(i["job_id"] is None for i in body["items"])
    assert body["status"] == "partial"  # the row without a title still failed
    assert all_jobs(services) == [] and dispatcher.dispatched == []

    # A dry run leaves nothing that a real run would take for an earlier video.
    real = get_batch(api, accepted(api, feed_source(feed.url)))
    assert real["counts"]["queued"] == 2 and real["counts"]["unchanged"] == 0


def test_limit_makes_only_that_many(api: Api, services: Services, server: FeedServer,
                                    dispatcher: IngestingDispatcher) -> None:
    """limit 2 of 5 products: two jobs, and the rest is not made (nor fetched)."""
    rows = [merchant_item(id=f"P{n}", title=f"Product number {n}", price=f"{n}.00 USD",
                          image=server.serve(f"/p{n}.png", picture((n * 40, 10, 10))))
            for n in range(1, 6)]
    url = server.serve("/feed.xml", merchant_rss(*rows))
    body = get_batch(api, accepted(api, feed_source(url), limit=2))
    assert [(i["key"], i["status"]) for i in body["items"]] == [("P1", "queued"),
                                                               ("P2", "queued")]
    assert body["counts"]["total"] == 2
    assert len(dispatcher.dispatched) == 2 == len(all_jobs(services))
    assert server.seen("/p3.png") == []


# --- 7: hostile XML --------------------------------------------------------------------------

def test_xxe_feed_fails_unsafe_xml_and_fetches_no_entity(api: Api, services: Services,
                                                         server: FeedServer) -> None:
    """An external entity fails the feed with unsafe_xml; the entity is never fetched."""
    entity = server.serve("/secret.txt", b"top secret")
    url = server.serve("/xxe.xml", merchant_rss(
        merchant_item(id="X1", title="&xxe;", price="1.00 USD"),
        prolog=f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{entity}">]>'))
    body = get_batch(api, accepted(api, feed_source(url)))
    assert body["status"] == "failed"
    assert body["error"]["code"] == "unsafe_xml" and body["error"]["message"]
    assert body["items"] == [] and body["counts"]["total"] == 0
    assert server.paths() == ["/xxe.xml"]
    assert all_jobs(services) == []


def test_billion_laughs_feed_fails_unsafe_xml(api: Api, server: FeedServer) -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'
        for n in range(1, 10))
    url = server.serve("/lol.xml", merchant_rss(
        merchant_item(id="L1", title="&lol9;", price="1.00 USD"),
        prolog=f"<!DOCTYPE rss [{entities}]>"))
    body = get_batch(api, accepted(api, feed_source(url)))
    assert body["status"] == "failed"
    assert body["error"]["code"] == "unsafe_xml"


# --- 8: feeds by upload ---------------------------------------------------------------------

def test_uploaded_shopify_feed_makes_jobs(api: Api, services: Services, server: FeedServer,
                                          dispatcher: IngestingDispatcher) -> None:
    """POST /v1/uploads?kind=feed stores products.json; a batch reads it by upload id."""
    data = shopify_products(
        shopify_product(101, "Trail Running Shoe", "89.00",
                        server.serve("/shoe.jpg", picture(RED, "JPEG"))),
        shopify_product(102, "Merino Wool Sock", "14.00",
                        server.serve("/sock.png", picture(GREEN))))
    response = post_feed_upload(api, data, "products.json")
    assert response.status_code == 201, response.get_json()
    upload = response.get_json()
    assert upload["kind"] == "feed" and upload["bytes"] == len(data)
    assert upload["filename"] == "products.json"
    assert upload["content_type"] == "application/json"

    body = get_batch(api, accepted(api, {"type": "feed", "upload_id": upload["id"],
                                         "currency": "eur"}))
    assert body["format"] == "shopify"
    assert [(i["key"], i["title"], i["status"]) for i in body["items"]] == [
        ("101", "Trail Running Shoe", "queued"), ("102", "Merino Wool Sock", "queued")]
    jobs = jobs_of(services, dispatcher.dispatched)
    assert sorted((j.source["title"], j.source["price"], j.source["currency"])
                  for j in jobs.values()) == [("Merino Wool Sock", "14.00", "EUR"),
                                              ("Trail Running Shoe", "89.00", "EUR")]
    shoe = next(j for j in jobs.values() if j.source["id"] == "101")
    [key] = run_script_stage(services, shoe.id)
    assert key.endswith(".jpg") and services.media.read_bytes(key) == picture(RED, "JPEG")


@pytest.mark.parametrize("seed", range(4))
def test_binary_upload_is_no_feed(api: Api, services: Services, seed: int) -> None:
    """Random bytes are refused as a feed upload (422 invalid_feed), and nothing is stored."""
    data = random.Random(seed).randbytes(4096)
    response = post_feed_upload(api, data, "feed.csv")
    assert_error(response, 422, "invalid_feed")
    assert not (services.settings.media_root / "uploads").exists() or not any(
        (services.settings.media_root / "uploads").rglob("*.csv"))


def test_a_utf8_csv_upload_is_a_feed(api: Api, services: Services,
                                     dispatcher: IngestingDispatcher) -> None:
    """Text with a header row is taken as a generic CSV (accents and no-break spaces too)
    and read with the batch's mapping."""
    data = "Réf;Désignation;Prix\nA-1;Crème de jour;12,50\u00a0€\n".encode()
    response = post_feed_upload(api, data, "export.csv")
    assert response.status_code == 201, response.get_json()
    upload = response.get_json()
    assert (upload["kind"], upload["content_type"]) == ("feed", "text/csv")
    body = get_batch(api, accepted(api, {"type": "feed", "upload_id": upload["id"],
                                         "format": "csv"},
                                   mapping={"id": "Réf", "title": "Désignation",
                                            "price": "Prix"}))
    assert [(i["key"], i["title"], i["status"]) for i in body["items"]] == [
        ("A-1", "Crème de jour", "queued")]
    job = jobs_of(services, dispatcher.dispatched)[dispatcher.dispatched[0]]
    assert (job.source["price"], job.source["currency"]) == ("12.50", "EUR")


def test_a_picture_upload_is_no_feed_upload_id(api: Api) -> None:
    """A batch naming a picture upload (not kind feed) is refused: 422 unknown_upload."""
    photo = post_upload(api, picture(RED), "red.png").get_json()
    response = post_batch(api, {"type": "feed", "upload_id": photo["id"]})
    assert_error(response, 422, "unknown_upload", "source.upload_id")
    response = post_batch(api, {"type": "feed", "upload_id": "upl_" + "0" * 24})
    assert_error(response, 422, "unknown_upload", "source.upload_id")


# --- 9: a generic CSV with a mapping --------------------------------------------------------

def test_generic_csv_with_mapping(api: Api, services: Services, server: FeedServer,
                                  dispatcher: IngestingDispatcher) -> None:
    """Columns named by the mapping become the product fields."""
    image = server.serve("/lamp.png", picture(YELLOW))
    csv = ("SKU,Name,Cost,Photo,Stock\n"
           f"L-1,Brass Desk Lamp,59.90 EUR,{image},yes\n"
           f"L-2,Paper Lamp Shade,19.00 EUR,{image},no\n"
           ",,3.00 EUR,,yes\n").encode()
    url = server.serve("/export.csv", csv)
    mapping = {"id": "SKU", "title": "name", "price": "Cost", "image": "Photo",
               "availability": "Stock"}
    body = get_batch(api, accepted(api, feed_source(url, format="csv"), mapping=mapping))
    assert body["format"] in (None, "csv")
    assert [(i["key"], i["status"]) for i in body["items"]] == [
        ("L-1", "queued"), ("L-2", "skipped"), ("row 4", "failed")]
    job = jobs_of(services, dispatcher.dispatched)[dispatcher.dispatched[0]]
    assert (job.source["title"], job.source["price"], job.source["currency"]) == (
        "Brass Desk Lamp", "59.90", "EUR")
    [key] = run_script_stage(services, job.id)
    assert services.media.read_bytes(key) == picture(YELLOW)


def test_csv_needs_a_mapping_of_known_fields(api: Api, dispatcher: IngestingDispatcher
                                             ) -> None:
    source = feed_source("https://shop.example/export.csv", format="csv")
    assert_error(post_batch(api, source), 422, "missing_field", "mapping")
    assert_error(post_batch(api, source, mapping={"title": "Name", "colour": "Colour"}),
                 422, "unknown_field", "mapping.colour")
    assert_error(post_batch(api, source, mapping={"price": "Cost"}), 422, "missing_field",
                 "mapping.title")
    assert dispatcher.ingested == []


# --- 10: validation --------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "status", "code", "field"), [
    ({"source": {"type": "feed", "url": "https://shop.example/f.xml",
                 "upload_id": "upl_" + "0" * 24}}, 422, "invalid_field", "source.url"),
    ({"source": {"type": "feed"}}, 422, "invalid_field", "source.url"),
    ({"source": {"type": "feed", "url": "ftp://shop.example/feed.xml"}}, 422,
     "invalid_field", "source.url"),
    ({"source": {"type": "feed", "url": "https:///feed.xml"}}, 422, "invalid_field",
     "source.url"),
    ({"source": {"type": "feed", "url": "https://shop.example/f.xml"}, "preset": "myspace"},
     422, "unknown_preset", "preset"),
    ({"source": {"type": "feed", "url": "https://shop.example/f.xml", "format": "xlsx"}},
     422, "invalid_field", "source.format"),
    ({"source": {"type": "feed", "url": "https://shop.example/f.xml"}, "limit": 0},
     422, "invalid_field", "limit"),
    ({"source": {"type": "feed", "url": "https://shop.example/f.xml"}, "colour": "red"},
     422, "unknown_field", "colour"),
    ({"source": {"type": "idea", "idea": "x"}}, 422, "invalid_field", "source.type"),
    ({"source": {"type": "collection", "mode": "compilation",
                 "items": [{"title": "Only one"}]}}, 422, "invalid_field", "source.items"),
    ({"source": {"type": "collection", "mode": "each", "items": [{"title": "A", "x": 1}]}},
     422, "unknown_field", "source.items.0.x"),
    ({"source": {"type": "collection", "mode": "each", "items": ["not-an-upload"]}},
     422, "invalid_field", "source.items.0"),
])
def test_invalid_batches_are_refused(api: Api, services: Services,
                                     dispatcher: IngestingDispatcher, body: dict[str, Any],
                                     status: int, code: str, field: str) -> None:
    """Each mistake answers the error shape naming the field; no batch is written."""
    response = api.client.post("/v1/batches", json=body, headers=api.headers)
    assert_error(response, status, code, field)
    assert dispatcher.ingested == []
    with services.sessions() as session:
        assert session.scalars(select(Batch)).all() == []


def test_batches_need_an_api_key(client: FlaskClient) -> None:
    response = client.post("/v1/batches", json={"source": feed_source("https://a.example/")})
    assert_error(response, 401, "unauthorized")
    assert_error(client.get("/v1/batches"), 401, "unauthorized")


def test_unreachable_feed_fails_the_batch(api: Api, server: FeedServer) -> None:
    """A feed on a closed port: the batch is accepted, then fails with a feed_ code."""
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago and is closed now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    body = get_batch(api, accepted(api, feed_source(f"http://127.0.0.1:{port}/feed.xml")))
    assert body["status"] == "failed"
    assert body["error"]["code"].startswith("feed_")
    assert str(port) in body["error"]["message"]
    # A feed that answers 404 and one that is not a feed fail the same way, with reasons.
    missing = get_batch(api, accepted(api, feed_source(server.url("/nowhere.xml"))))
    assert missing["status"] == "failed" and missing["error"]["code"] == "feed_http_error"
    assert "404" in missing["error"]["message"]
    junk = get_batch(api, accepted(api, feed_source(server.serve("/junk", b"hello there"))))
    assert junk["status"] == "failed" and junk["error"]["code"] == "unknown_format"


def test_feed_at_a_private_address_fails(api: Api) -> None:
    """The feed URL itself goes through the safe fetcher."""
    body = get_batch(api, accepted(api, feed_source("http://169.254.169.254/feed.xml")))
    assert body["status"] == "failed"
    assert body["error"]["code"] == "feed_blocked_address"
    assert "metadata" in body["error"]["message"]


# --- 11: ownership, listing, paging ---------------------------------------------------------

def test_another_accounts_batch_is_not_found(api: Api, services: Services,
                                             server: FeedServer) -> None:
    feed = shop_feed(server)
    batch_id = accepted(api, feed_source(feed.url))
    other = Api(api.client, new_account(services, "other shop"))
    assert_error(other.get(f"/v1/batches/{batch_id}"), 404, "batch_not_found")
    assert_error(api.get("/v1/batches/bat_missing"), 404, "batch_not_found")
    assert other.get("/v1/batches").get_json() == {"batches": [], "next_before": None}


def test_batches_are_listed_newest_first(api: Api, server: FeedServer) -> None:
    url = server.serve("/tiny.xml", merchant_rss(
        merchant_item(id="T1", title="Tiny product", price="1.00 USD")))
    ids = [accepted(api, feed_source(url), dry_run=True) for _ in range(3)]
    listed = api.get("/v1/batches").get_json()
    assert [b["id"] for b in listed["batches"]] == ids[::-1]
    assert listed["next_before"] is None
    assert all("items" not in b and b["counts"]["total"] == 1 for b in listed["batches"])
    first = api.get("/v1/batches?limit=2").get_json()
    assert [b["id"] for b in first["batches"]] == ids[:0:-1]
    rest = api.get(f"/v1/batches?limit=2&before={first['next_before']}").get_json()
    assert [b["id"] for b in rest["batches"]] == ids[:1]
    assert_error(api.get("/v1/batches?before=bat_nope"), 422, "invalid_field", "before")
    assert_error(api.get("/v1/batches?limit=0"), 422, "invalid_field", "limit")


def test_items_page_through_next_urls(api: Api, server: FeedServer) -> None:
    """Seven items, three a page: following `next` gives each item once, in feed order."""
    keys = [f"SKU-{n}" for n in range(1, 8)]
    url = server.serve("/seven.xml", merchant_rss(*(
        merchant_item(id=key, title=f"Product {key}", price="9.00 USD") for key in keys)))
    batch_id = accepted(api, feed_source(url))
    page = get_batch(api, batch_id, "?limit=3")
    seen = [item["key"] for item in page["items"]]
    pages = 1
    while page["next"]:
        assert page["next"].startswith(f"/v1/batches/{batch_id}?")
        assert "limit=3" in page["next"]
        page = dict(api.get(page["next"]).get_json())
        seen += [item["key"] for item in page["items"]]
        pages += 1
    assert seen == keys and pages == 3
    assert page["counts"]["total"] == 7
    assert_error(api.get(f"/v1/batches/{batch_id}?limit=0"), 422, "invalid_field", "limit")
    assert_error(api.get(f"/v1/batches/{batch_id}?limit=501"), 422, "invalid_field", "limit")
    assert_error(api.get(f"/v1/batches/{batch_id}?after=x"), 422, "invalid_field", "after")


# --- 12: collections ------------------------------------------------------------------------

def _photos(api: Api, *colours: tuple[int, int, int]) -> list[dict[str, Any]]:
    photos = []
    for i, colour in enumerate(colours):
        response = post_upload(api, picture(colour), f"photo{i}.png")
        assert response.status_code == 201, response.get_json()
        photos.append(response.get_json())
    return photos


def _key(api: Api, upload: dict[str, Any]) -> str:
    return f"uploads/{api.account.account_id}/{upload['id']}/{upload['filename']}"


def test_collection_each_makes_a_job_per_item(api: Api, services: Services,
                                              dispatcher: IngestingDispatcher) -> None:
    photos = _photos(api, RED, GREEN, BLUE)
    items = [{"title": title, "price": price, "images": [photo["id"]]}
             for title, price, photo in zip(("Red Scarf", "Green Beanie", "Blue Gloves"),
                                            ("$25.00", "$18.00", "$22.00"), photos,
                                            strict=True)]
    body = get_batch(api, accepted(api, {"type": "collection", "mode": "each",
                                         "items": items}))
    assert body["counts"]["queued"] == 3 == body["counts"]["total"]
    assert [i["title"] for i in body["items"]] == ["Red Scarf", "Green Beanie", "Blue Gloves"]
    assert len(dispatcher.dispatched) == 3
    jobs = jobs_of(services, dispatcher.dispatched)
    for item, photo in zip(body["items"], photos, strict=True):
        job = jobs[item["job_id"]]
        assert job.source["type"] == "product" and job.source["title"] == item["title"]
        assert job.options["image_keys"] == {photo["id"]: _key(api, photo)}


def test_collection_compilation_makes_one_job(api: Api, services: Services,
                                              dispatcher: IngestingDispatcher) -> None:
    photos = _photos(api, RED, GREEN, BLUE)
    items = [{"title": f"Pick {n}", "images": [photo["id"]]} for n, photo in enumerate(photos)]
    body = get_batch(api, accepted(api, {"type": "collection", "mode": "compilation",
                                         "title": "Winter picks", "items": items}))
    assert [(i["key"], i["title"], i["status"]) for i in body["items"]] == [
        ("compilation", "Winter picks", "queued")]
    assert len(dispatcher.dispatched) == 1
    job = jobs_of(services, dispatcher.dispatched)[dispatcher.dispatched[0]]
    assert job.source["type"] == "collection" and job.source["mode"] == "compilation"
    assert [i["title"] for i in job.source["items"]] == ["Pick 0", "Pick 1", "Pick 2"]
    assert job.options["image_keys"] == {p["id"]: _key(api, p) for p in photos}


# --- 13: the status a batch shows ----------------------------------------------------------

def test_batch_status_follows_its_jobs(api: Api, services: Services,
                                       dispatcher: IngestingDispatcher) -> None:
    """running while a job is live; succeeded when all are; partial when some failed, with
    the failed job's stage and message as the item's reason; failed when all failed."""
    items = [{"title": title, "price": "$10.00"} for title in ("Alpha Lamp", "Beta Rug",
                                                               "Gamma Vase")]
    batch_id = accepted(api, {"type": "collection", "mode": "each", "items": items})
    a, b, c = (i["job_id"] for i in get_batch(api, batch_id)["items"])

    set_job(services, a, "succeeded")
    set_job(services, b, "running")
    body = get_batch(api, batch_id)
    assert body["status"] == "running"
    assert [i["status"] for i in body["items"]] == ["succeeded", "running", "queued"]
    assert body["items"][0]["video_url"] == f"/v1/jobs/{a}/video"

    set_job(services, b, "succeeded")
    set_job(services, c, "succeeded")
    body = get_batch(api, batch_id)
    assert body["status"] == "succeeded"
    assert body["counts"]["succeeded"] == 3

    set_job(services, c, "failed", "render", "ffmpeg exited with 1")
    body = get_batch(api, batch_id)
    assert body["status"] == "partial"
    assert body["counts"]["failed"] == 1 and body["counts"]["succeeded"] == 2
    assert body["items"][2]["status"] == "failed"
    assert body["items"][2]["reason"] == "render stage failed: ffmpeg exited with 1"
    assert body["items"][2]["video_url"] is None

    set_job(services, a, "failed", "script", "no words")
    set_job(services, b, "canceled")
    body = get_batch(api, batch_id)
    assert body["status"] == "failed"
    assert [i["status"] for i in body["items"]] == ["failed", "failed", "failed"]
    assert body["items"][0]["reason"] == "script stage failed: no words"
    listed = api.get("/v1/batches").get_json()["batches"]
    assert [(x["id"], x["status"]) for x in listed] == [(batch_id, "failed")]


def test_broker_down_fails_the_batch_with_503(api: Api, services: Services,
                                              dispatcher: IngestingDispatcher,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch whose ingest cannot be sent is not left queued for ever."""
    def down(batch_id: str) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(dispatcher, "ingest", down)
    response = post_batch(api, feed_source("https://shop.example/feed.xml"))
    assert_error(response, 503, "broker_unavailable")
    with services.sessions() as session:
        batch = session.scalars(select(Batch)).one()
        assert (batch.status, batch.error_code) == ("failed", "broker_unavailable")
        assert session.scalars(select(BatchItem)).all() == []


def test_a_rerun_is_not_done_before_the_jobs_it_reuses(api: Api, services: Services,
                                                       dispatcher: IngestingDispatcher) -> None:
    """An unchanged item whose earlier job is still queued shows that job's status, so the
    re-run is running; once the job succeeds the item is unchanged (with its video), and if
    it fails the item is failed with the job's reason."""
    body = {"type": "collection", "mode": "each", "items": [{"title": "Alpha Lamp"}]}
    first = get_batch(api, accepted(api, body))
    job_id = first["items"][0]["job_id"]
    rerun_id = accepted(api, body)
    again = get_batch(api, rerun_id)
    assert again["items"][0]["job_id"] == job_id
    assert (again["status"], again["items"][0]["status"]) == ("running", "queued")
    set_job(services, job_id, "succeeded")
    again = get_batch(api, rerun_id)
    assert (again["status"], again["items"][0]["status"]) == ("succeeded", "unchanged")
    assert again["items"][0]["video_url"] == f"/v1/jobs/{job_id}/video"
    assert again["counts"]["unchanged"] == 1
    set_job(services, job_id, "failed", "render", "disk full")
    again = get_batch(api, rerun_id)
    assert (again["status"], again["items"][0]["status"]) == ("failed", "failed")
    assert again["items"][0]["reason"] == "render stage failed: disk full"
