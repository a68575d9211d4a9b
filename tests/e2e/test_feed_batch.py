"""A product feed becomes one video per product through the real fleet, and a re-run makes
only what changed."""

from __future__ import annotations

import io
import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
import requests
from PIL import Image

from bench.fleet import VIDEOFACTORY
from pipeline.render.check import check_output
from pipeline.render.compositor import output_preset
from pipeline.render.presets import Preset, get_preset
from tests.e2e.conftest import Fleet

pytestmark = pytest.mark.slow
PRODUCTS = 20
POISONED = 7  # this product's only picture is at the cloud metadata address


class Shop:
    """A shop's web server: the feed and the product pictures, with a log of requests."""

    def __init__(self) -> None:
        self.prices = {i: f"{10 + i}.00 USD" for i in range(PRODUCTS)}
        self.requests: list[str] = []
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                shop.requests.append(self.path)
                body, kind = shop.answer(self.path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str) -> tuple[bytes, str]:
        if path == "/feed.xml":
            return self.feed().encode(), "application/rss+xml"
        if path.startswith("/img/"):
            index = int(path.removeprefix("/img/").removesuffix(".jpg"))
            out = io.BytesIO()
            Image.new("RGB", (720, 720), ((index * 37) % 256, (index * 91) % 256, 140)).save(
                out, "JPEG")
            return out.getvalue(), "image/jpeg"
        return b"", "text/plain"

    def feed(self) -> str:
        items = []
        for i in range(PRODUCTS):
            image = ("http://169.254.169.254/latest/meta-data/x.jpg" if i == POISONED
                     else f"{self.base}/img/{i}.jpg")
            description = (f"<p>Gadget {i} makes mornings easier.</p>"
                           f"<ul><li>It folds flat &amp; fits any bag.</li></ul>")
            items.append(
                f"<item><g:id>g-{i}</g:id><g:title>Gadget {i}</g:title>"
                f"<g:description>{escape(description)}</g:description>"
                f"<g:link>https://shop.example.com/g-{i}</g:link>"
                f"<g:image_link>{image}</g:image_link><g:price>{self.prices[i]}</g:price>"
                f"<g:availability>in stock</g:availability><g:brand>Acme</g:brand></item>")
        return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
                'xmlns:g="http://base.google.com/ns/1.0"><channel><title>Acme</title>'
                + "".join(items) + "</channel></rss>")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def shop() -> Iterator[Shop]:
    server = Shop()
    try:
        yield server
    finally:
        server.close()


def _submit(fleet: Fleet, body: dict) -> str:
    response = requests.post(f"{fleet.base_url}/v1/batches", headers=fleet.headers(),
                             json=body, timeout=10)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    return response.json()["id"]


def _finished(fleet: Fleet, batch_id: str, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        body = requests.get(f"{fleet.base_url}/v1/batches/{batch_id}?limit=500",
                            headers=fleet.headers(), timeout=10).json()
        if body["status"] in ("succeeded", "partial", "failed"):
            return body
        time.sleep(1)
    raise AssertionError(f"batch {batch_id} still {body.get('status')}: {body.get('counts')}\n"
                         + fleet.tail_logs())


def _draft_problems(path: Path, draft: Preset) -> list[str]:
    """The preset checks a draft must pass: x264's ultrafast turns off what the High profile
    adds, so a draft is Constrained Baseline by design; every other check holds."""
    return [p for p in check_output(path, draft) if not p.startswith("profile:")]


def _jobs_made(body: dict) -> list[str]:
    return [item["job_id"] for item in body["items"]
            if item["status"] not in ("unchanged", "skipped") and item["job_id"]]


def test_feed_to_videos_rerun_and_one_changed_price(fleet: Fleet, shop: Shop,
                                                    tmp_path: Path) -> None:
    """20 products: 19 videos that pass the preset checks and one poisoned item that fails
    alone; the same feed again makes no job; one changed price makes exactly one."""
    request = {"source": {"type": "feed", "url": f"{shop.base}/feed.xml"},
               "preset": "tiktok", "quality": "draft"}
    first = _finished(fleet, _submit(fleet, request))
    assert first["status"] == "partial", first["counts"]
    assert first["counts"]["total"] == PRODUCTS
    assert first["counts"]["succeeded"] == PRODUCTS - 1 and first["counts"]["failed"] == 1
    poisoned = next(item for item in first["items"] if item["key"] == f"g-{POISONED}")
    assert poisoned["status"] == "failed" and poisoned["job_id"] is None
    assert "169.254.169.254" in poisoned["reason"] and "metadata" in poisoned["reason"]
    assert not any("latest/meta-data" in path for path in shop.requests)

    draft = output_preset(get_preset("tiktok"), "draft")
    for item in first["items"]:
        if item["status"] != "succeeded":
            continue
        video = requests.get(f"{fleet.base_url}{item['video_url']}", headers=fleet.headers(),
                             timeout=30)
        assert video.status_code == 200
        path = tmp_path / f"{item['key']}.mp4"
        path.write_bytes(video.content)
        assert _draft_problems(path, draft) == [], item["key"]
        sidecar = json.loads((fleet.export_dir / f"{item['job_id']}.json").read_text())
        script = sidecar["script"]
        assert script["kind"] == "product" and script["end_subtitle"] == "shop.example.com"
        assert item["title"] in sidecar["narration"]

    fetched_before = len([p for p in shop.requests if p.startswith("/img/")])
    again = _finished(fleet, _submit(fleet, request))
    assert again["status"] == "partial"  # the poisoned item is still poisoned
    assert _jobs_made(again) == []
    assert again["counts"]["unchanged"] == PRODUCTS - 1
    assert {i["job_id"] for i in again["items"] if i["status"] == "unchanged"} == {
        i["job_id"] for i in first["items"] if i["status"] == "succeeded"}
    assert len([p for p in shop.requests if p.startswith("/img/")]) > fetched_before

    shop.prices[3] = "9.99 USD"
    changed = _finished(fleet, _submit(fleet, request))
    made = _jobs_made(changed)
    assert len(made) == 1, changed["items"]
    item = next(i for i in changed["items"] if i["job_id"] == made[0])
    assert item["key"] == "g-3" and item["status"] == "succeeded"
    sidecar = json.loads((fleet.export_dir / f"{made[0]}.json").read_text())
    assert sidecar["script"]["price"] == "$9.99"


def test_a_compilation_of_five_products_is_one_video_with_five_numbered_scenes(
    fleet: Fleet, shop: Shop, tmp_path: Path
) -> None:
    """A "Top 5" collection is one job whose script numbers each product and prices it."""
    items = [{"title": f"Lamp {k}", "description": f"Lamp {k} lights a whole room softly.",
              "price": f"{20 + k}.00", "currency": "USD",
              "images": [f"{shop.base}/img/{k}.jpg"]} for k in range(1, 6)]
    response = requests.post(f"{fleet.base_url}/v1/jobs", headers=fleet.headers(), timeout=10,
                             json={"source": {"type": "collection", "mode": "compilation",
                                              "title": "Top 5 lamps", "items": items},
                                   "quality": "draft"})
    assert response.status_code == 202, response.text
    job = fleet.wait_for(response.json()["id"], {"succeeded", "failed"}, timeout=600)
    assert job["status"] == "succeeded", job
    sidecar = json.loads((fleet.export_dir / f"{job['id']}.json").read_text())
    headlines = [scene["headline"] for scene in sidecar["script"]["scenes"]]
    numbered = [h for h in headlines if h[:2] in {f"{k}." for k in range(1, 6)}]
    assert [h[:2] for h in numbered] == ["1.", "2.", "3.", "4.", "5."]
    prices = [scene["price"] for scene in sidecar["script"]["scenes"] if scene["price"]]
    assert prices == ["$21.00", "$22.00", "$23.00", "$24.00", "$25.00"]
    video = tmp_path / "top5.mp4"
    video.write_bytes(requests.get(f"{fleet.base_url}/v1/jobs/{job['id']}/video",
                                   headers=fleet.headers(), timeout=30).content)
    assert _draft_problems(video, output_preset(get_preset("tiktok"), "draft")) == []


def test_the_batch_command_drives_the_fleet(fleet: Fleet, shop: Shop, tmp_path: Path) -> None:
    """`videofactory batch URL` against the fleet (REDIS_URL set) sends the ingest to the cpu
    pool, follows the workers' progress and prints the report; it exits 0 when all is done."""
    header, *items = shop.feed().split("<item>")
    feed = tmp_path / "two.xml"  # a feed file of the shop's first two products
    feed.write_text(header + "".join(f"<item>{item}" for item in items[:2])
                    + "</channel></rss>", encoding="utf-8")
    done = subprocess.run([VIDEOFACTORY, "batch", str(feed), "--quality", "draft",
                           "--timeout", "600"], env=fleet.env, capture_output=True, text=True,
                          timeout=700)
    assert done.returncode == 0, done.stderr[-3000:] + fleet.tail_logs()
    # Progress is followed: a two-item feed may be read before the first look (a loaded
    # machine), so the first line is the reading or the videos under way.
    assert re.search(r"^(parsing: \d+ items read|running: \d+/2 videos done)", done.stderr,
                     re.MULTILINE), done.stderr
    assert "2/2 videos done" in done.stderr
    assert done.stderr.count("succeeded") >= 2
