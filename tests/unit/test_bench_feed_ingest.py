"""bench/feed_ingest.py's pure helpers on tiny sizes: the generated feed reads as it promises,
its pictures are distinct valid PNGs served with ETags, and the floor enqueues one chain per
job."""

from __future__ import annotations

import collections
from pathlib import Path

import httpx
import pytest

from bench.feed_ingest import (
    FeedServer,
    enqueue_floor,
    feed_shape,
    floor_app,
    image_path,
    merchant_feed,
    product_png,
    queued_messages,
)
from pipeline.sources.feeds import read_feed
from pipeline.sources.inspect import check_image
from worker.routing import ROUTES


@pytest.mark.parametrize("products", [1, 3, 21, 60])
def test_the_generated_feed_reads_as_its_shape_says(products: int, tmp_path: Path) -> None:
    """read_feed finds as many items, skipped items and usable products as feed_shape says."""
    path = tmp_path / "feed.xml"
    path.write_bytes(merchant_feed(products, "http://127.0.0.1:9", tag="t"))
    items = list(read_feed(path))
    shape = feed_shape(products)
    statuses = collections.Counter(item.status for item in items)
    assert len(items) == shape.items
    assert statuses == {"ok": shape.jobs, **({"skipped": shape.skipped} if shape.skipped else {})}


def test_the_feed_has_html_sale_prices_and_variants(tmp_path: Path) -> None:
    """Descriptions lose their HTML, prices keep USD, a sale price and a variant group appear."""
    path = tmp_path / "feed.xml"
    path.write_bytes(merchant_feed(60, "http://127.0.0.1:9", tag="t"))
    products = [item.product for item in read_feed(path) if item.product is not None]
    assert all("<" not in p.description and "&amp;" not in p.description for p in products)
    assert all(p.price is not None and p.price.currency == "USD" for p in products)
    assert any(p.sale_price is not None for p in products)
    groups = [p for p in products if p.group_id]
    assert groups and all(len(p.images) == 3 for p in groups)
    assert all(image.startswith("http://127.0.0.1:9/img/t/") for p in products
               for image in p.images)


def test_pictures_are_distinct_valid_pngs(tmp_path: Path) -> None:
    """The same key gives the same bytes, another key other bytes, and the ingest's check
    accepts them."""
    assert product_png("t/1") == product_png("t/1")
    assert len({product_png(f"t/{i}") for i in range(50)}) == 50
    path = tmp_path / "picture.png"
    path.write_bytes(product_png("t/1"))
    check = check_image(path, formats=("PNG",), accepts="a PNG")
    assert check is not None and (check.width, check.height) == (32, 32)


def test_the_server_serves_feeds_and_answers_304_to_a_known_etag() -> None:
    """A picture comes with an ETag, the same ETag gets 304, unknown paths 404."""
    with FeedServer() as server, httpx.Client(base_url=server.base_url) as client:
        feed_url = server.add_merchant_feed("x", 2)
        assert client.get(feed_url).content == merchant_feed(2, server.base_url, tag="x")
        picture = client.get(image_path("x", 1))
        assert picture.status_code == 200
        assert picture.content == product_png("x/1.png")
        again = client.get(image_path("x", 1), headers={"If-None-Match": picture.headers["etag"]})
        assert again.status_code == 304
        assert client.get("/nothing").status_code == 404
        hits = server.hits
    assert (hits.feeds, hits.images, hits.not_modified, hits.missing) == (1, 1, 1, 1)


def test_the_floor_sends_one_chain_per_job_onto_the_first_stages_queue() -> None:
    """enqueue_floor puts `count` messages on the queue of the first stage, timed."""
    app = floor_app("memory://")
    try:
        seconds = enqueue_floor(app, 3)
        assert seconds >= 0
        assert queued_messages(app, ROUTES[0].queue) == 3
    finally:
        app.close()
