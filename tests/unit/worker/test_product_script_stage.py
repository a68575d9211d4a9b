"""The script stage of product and compilation jobs: pictures fetched through the safe fetcher
into storage by content hash, refused ones left out with their reasons, and the script and
visuals the render reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.types import StageError
from store.media import LocalMediaStorage
from store.settings import Settings
from tests.support.feeds import FeedServer, feed_server, picture, png_claiming
from worker.remote_media import RemoteMedia, RemoteRefused
from worker.stages import JobInput, StageContext, run_script


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as state:
        yield state


@pytest.fixture
def remote(ctx: StageContext) -> Iterator[RemoteMedia]:
    with RemoteMedia.from_settings(ctx.settings, ctx.media, ctx.scratch) as fetcher:
        yield fetcher


@pytest.fixture
def ctx(tmp_path: Path) -> StageContext:
    settings = Settings.from_env({"DATA_DIR": str(tmp_path / "data"),
                                  "FETCH_ALLOW_HOSTS": "127.0.0.1", "FETCH_TIMEOUT": "5"})
    media = LocalMediaStorage(settings.media_root)
    return StageContext(settings, media, tmp_path / "scratch", lambda fraction: None)


def _job(source: dict[str, Any], **options: Any) -> JobInput:
    return JobInput("job_1", "tiktok", source, {"language": "en", **options}, {})


def _outputs(ctx: StageContext, keys: dict[str, str]) -> tuple[dict[str, Any], list[Any]]:
    return (json.loads(ctx.media.read_bytes(keys["script"])),
            json.loads(ctx.media.read_bytes(keys["visuals"])))


def test_product_pictures_become_the_visuals_in_order(ctx: StageContext,
                                                      server: FeedServer) -> None:
    """Both pictures are fetched, stored once by content hash, and listed main first; the
    script is a product script with the sale badge."""
    red, blue = picture((220, 20, 20), "JPEG"), picture((20, 20, 220), "PNG")
    source = {"type": "product", "title": "Acme Thermal Mug", "price": "20.00",
              "sale_price": "15.00", "currency": "USD", "link": "https://shop.example.com/m",
              "description": "Keeps coffee hot for six hours. Double-walled steel stays cool.",
              "images": [server.serve("/red.jpg", red), server.serve("/blue.png", blue)]}
    script, visuals = _outputs(ctx, run_script(ctx, _job(source)))
    assert [ctx.media.read_bytes(v["key"]) for v in visuals] == [red, blue]
    assert all(v["key"].startswith("fetched/") and v["kind"] == "still" for v in visuals)
    assert (script["kind"], script["price"], script["was_price"]) == ("product", "$15.00",
                                                                      "$20.00")
    assert script["end_subtitle"] == "shop.example.com"


def test_a_second_fetch_is_conditional_and_a_changed_picture_gets_a_new_key(
    ctx: StageContext, server: FeedServer, remote: RemoteMedia
) -> None:
    """The same URL again asks If-None-Match and keeps the stored copy; new bytes at the same
    URL are a new content hash, so a re-run sees the picture changed."""
    url = server.serve("/p.png", picture((10, 200, 10)))
    first = remote.get(url)
    again = remote.get(url)
    assert again == first
    assert server.seen("/p.png")[-1].status == 304
    assert server.seen("/p.png")[-1].headers.get("If-None-Match")
    server.serve("/p.png", picture((200, 10, 10)))
    changed = remote.get(url)
    assert changed.sha256 != first.sha256 and changed.key != first.key
    assert ctx.media.exists(first.key) and ctx.media.exists(changed.key)


@pytest.mark.parametrize(("url", "reason"), [
    ("http://169.254.169.254/latest/meta-data/x.png", "metadata"),
    ("http://10.0.0.5/x.png", "private"),
    ("http://2130706433/x.png", "loopback"),
])
def test_unsafe_picture_addresses_are_refused(remote: RemoteMedia, url: str,
                                              reason: str) -> None:
    """Metadata, private and decimal-loopback addresses are refused before connecting, even
    with 127.0.0.1 allowed (only that spelling is)."""
    with pytest.raises(RemoteRefused) as caught:
        remote.get(url)
    assert caught.value.code == "blocked_address" and reason in caught.value.message


def test_a_product_whose_every_picture_is_refused_fails_with_the_reasons(
    ctx: StageContext, server: FeedServer
) -> None:
    """A 20000×20000 PNG and a redirect to localhost: nothing usable, so the stage fails
    naming both; with one good picture it goes on without the bad one."""
    bomb = server.serve("/bomb.png", png_claiming(20000, 20000))
    hop = server.redirect("/hop", f"http://localhost:{server.port}/bomb.png")
    source = {"type": "product", "title": "Bomb", "images": [bomb, hop]}
    with pytest.raises(StageError) as caught:
        run_script(ctx, _job(source))
    assert caught.value.code == "image_refused"
    assert "megapixels" in caught.value.message and "localhost" in caught.value.message
    assert f"{hop} (redirected)" in caught.value.message  # the URL the product gave
    good = picture((1, 2, 3))
    source["images"] = [bomb, server.serve("/good.png", good)]
    _, visuals = _outputs(ctx, run_script(ctx, _job(source)))
    assert [ctx.media.read_bytes(v["key"]) for v in visuals] == [good]


def test_a_compilation_numbers_its_products_and_points_each_scene_at_its_pictures(
    ctx: StageContext, server: FeedServer
) -> None:
    """Five items, one of them an upload: numbered headlines, each scene's visuals are its
    own product's pictures in the job's visuals."""
    upload_key = ctx.media.put_bytes("uploads/acc/upl_x/lamp.png", picture((9, 9, 9)))
    items: list[Any] = []
    for k in range(1, 6):
        images = [server.serve(f"/lamp{k}.png", picture((k * 40, 0, 0)))] if k != 3 else []
        items.append({"title": f"Lamp {k}", "price": f"{20 + k}.00", "currency": "USD",
                      "description": f"Lamp {k} lights a whole room softly.",
                      "images": images})
    items[3] = "upl_x"
    source = {"type": "collection", "mode": "compilation", "title": "Top 5 lamps",
              "items": items}
    script, visuals = _outputs(ctx, run_script(ctx, _job(source,
                                                         image_keys={"upl_x": upload_key})))
    assert script["kind"] == "compilation"
    numbered = [s for s in script["scenes"] if s["headline"][:2] in
                {f"{k}." for k in range(1, 6)}]
    assert len(numbered) == 5
    shown = [[ctx.media.read_bytes(visuals[i]["key"]) for i in s["visuals"]] for s in numbered]
    assert shown[0] == [picture((40, 0, 0))] and shown[2] == []
    assert shown[3] == [picture((9, 9, 9))] and shown[4] == [picture((200, 0, 0))]


def test_a_picture_the_server_calls_fresh_is_not_asked_about_again(
    ctx: StageContext, server: FeedServer, remote: RemoteMedia
) -> None:
    """Cache-Control max-age: within it the stored copy is used without a request (a daily
    feed re-run of a CDN's pictures costs no round trips); no-cache always revalidates."""
    url = server.serve("/cdn.png", picture((5, 5, 250)), **{"Cache-Control": "max-age=3600"})
    first = remote.get(url)
    assert remote.get(url) == first and len(server.seen("/cdn.png")) == 1
    plain = server.serve("/plain.png", picture((5, 250, 5)), **{"Cache-Control": "no-cache"})
    remote.get(plain)
    remote.get(plain)
    assert [seen.status for seen in server.seen("/plain.png")] == [200, 304]
