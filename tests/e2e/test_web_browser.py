"""The web page in a real browser, against a real `videofactory serve` that makes real videos.

Headless Chromium (Debian's) signs in, submits an idea with review on, watches the stages
advance on the one page the server pushes them to, edits a scene and approves, plays the
video, seeks, and downloads it; a feed file becomes a batch whose page reaches succeeded;
validation errors appear beside their fields; sign-out ends the session; a POST without the
CSRF token is refused; axe-core finds nothing serious. Screenshots at phone and desktop width
are written to the folder the first test prints (VF_TEST_ARTIFACTS; with
VF_UPDATE_DOCS_SCREENSHOTS=1 two of them are copied into docs/screenshots for the README).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from bench.fleet import VIDEOFACTORY, free_port, start, stop
from pipeline.tools import probe
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    artifacts_dir,
    axe_violations,
    chromium_missing,
    serious,
)
from tests.support.feeds import shopify_product, shopify_products

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
WAIT_MS = 120_000  # a draft video takes seconds here; a loaded CI machine gets room


@dataclass
class Server:
    """The embedded server: SQLite, jobs in-process, one account."""

    base_url: str
    api_key: str
    root: Path
    logs: Path

    def tail(self) -> str:
        return self.logs.read_text(errors="replace")[-4000:]


@dataclass
class Report:
    """What the tests saw: axe results per page, screenshots taken."""

    folder: Path
    axe: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def shot(self, page: Any, name: str) -> Path:
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def check_axe(self, page: Any, name: str) -> None:
        found = axe_violations(page)
        self.axe[name] = [{"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"])}
                          for v in found]
        (self.folder / "axe.json").write_text(json.dumps(self.axe, indent=1))
        assert serious(found) == [], f"{name}: {serious(found)}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`videofactory serve` with no DATABASE_URL or REDIS_URL, and an account's key."""
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("web-serve")
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "MEDIA_ROOT", "EXPORT_DIR"}}
    env.update({"DATA_DIR": str(root / "data"), "API_PORT": str(port), "LOG_LEVEL": "INFO",
                "SECRET_KEY": "web-e2e-" + "k" * 40})
    created = subprocess.run([VIDEOFACTORY, "accounts", "create", "web-shop"], env=env,
                             capture_output=True, text=True, timeout=120, check=True)
    key = created.stdout.strip().splitlines()[-1]
    logs = root / "serve.log"
    process = start(["serve", "--port", str(port)], env, logs)
    served = Server(f"http://127.0.0.1:{port}", key, root, logs)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{served.base_url}/v1/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "serve did not start\n" + served.tail()
            time.sleep(0.3)
        yield served
    finally:
        stop([process])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium from the system, through Playwright."""
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def report() -> Report:
    """Where the screenshots and the axe report go."""
    return Report(artifacts_dir())


@pytest.fixture(autouse=True)
def _say_where_artifacts_go(report: Report, capsys: pytest.CaptureFixture[str]) -> None:
    """Print the artifacts folder (past pytest's capture), so that a person finds it."""
    with capsys.disabled():
        print(f"\n[web e2e] screenshots and axe report: {report.folder}")


def _page(browser: Any, size: dict[str, int] = DESKTOP) -> Any:
    context = browser.new_context(viewport=size, accept_downloads=True)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.problems = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    return page


def _sign_in(page: Any, server: Server) -> None:
    """Sign in with the keyboard only: the key field, then Enter."""
    page.goto(server.base_url + "/")
    assert "/sign-in" in page.url
    page.get_by_label("API key").focus()
    page.keyboard.type(server.api_key)
    page.keyboard.press("Enter")
    page.wait_for_url(server.base_url + "/")


def _stage(page: Any, name: str) -> str:
    return str(page.locator(f'tr[data-stage="{name}"] [data-col=status]').inner_text())


def test_idea_with_review_becomes_a_video_on_one_live_page(
        browser: Any, server: Server, report: Report, tmp_path: Path) -> None:
    """Submit an idea with review; the page shows the stages advance (pushed, never polled,
    never reloaded), the edited and approved script, a playable, seekable video that
    downloads as a valid MP4, its draft preview, captions, post text, publication and costs."""
    page = _page(browser)
    _sign_in(page, server)
    report.check_axe(page, "new video (desktop)")
    report.shot(page, "new-video-desktop")
    page.get_by_label("Your idea").fill("Why kites fly higher on windy afternoons")
    page.get_by_label("Points to make (optional)").fill(
        "Wind pushes against the tilted kite\nThe string holds it at the right angle")
    page.get_by_label("Quality").select_option("draft")
    page.get_by_label("Let me review the script before the video is made").check()
    page.get_by_role("button", name="Make the video").click()
    page.wait_for_url(re.compile(r".*/jobs/job_[0-9a-f]+$"))
    job_id = page.url.rsplit("/", 1)[1]

    # From here on the page never navigates: every change arrives over its event stream.
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url)
            if frame == page.main_frame else None)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(f"{request.method} {request.url}"))

    page.wait_for_selector("#review:not([hidden])", timeout=WAIT_MS)
    assert _stage(page, "script") == "Done" and _stage(page, "voice") == "Waiting"
    assert page.locator('tr[data-stage="script"] [data-col=worker]').inner_text() == "embedded"
    page.wait_for_selector("#scene-0-narration")
    report.check_axe(page, "review (desktop)")
    # One scene written again: the job runs its script stage and waits for review again.
    # (Proved by the page reading the script again once the job is back in review.)
    script_url = f"{server.base_url}/v1/jobs/{job_id}/script"
    with page.expect_response(lambda r: r.url.endswith("/script/regenerate")) as regenerated, \
            page.expect_request(lambda r: r.method == "GET" and r.url == script_url,
                                timeout=WAIT_MS):
        page.get_by_role("button", name="Write scene 2 again").click()
    assert regenerated.value.status == 202
    page.wait_for_selector("#review:not([hidden]) #scene-0-narration", timeout=WAIT_MS)
    edited = "Kites climb because the wind presses on their tilted faces."
    page.get_by_label("What is said in scene 1").fill(edited)
    page.get_by_role("button", name="Approve and make the video").click()

    page.wait_for_selector('tr[data-stage="voice"] .status-succeeded', timeout=WAIT_MS)
    page.wait_for_selector('tr[data-stage="render"] .status-succeeded', timeout=WAIT_MS)
    page.wait_for_selector("#result:not([hidden])", timeout=WAIT_MS)
    assert page.locator("#job-status").inner_text() == "Done"
    assert page.locator("#job-progress").get_attribute("value") == "100"
    for stage in ("voice", "captions", "render", "publish"):
        assert page.locator(f'tr[data-stage="{stage}"] [data-col=worker]').inner_text() == \
            "embedded"
        assert page.locator(f'tr[data-stage="{stage}"] [data-col=time]').inner_text() \
            .endswith(" s")
    assert navigations == [], navigations
    reads = [line for line in asked if line.startswith("GET ")
             and f"/v1/jobs/{job_id}" in line and "/events" not in line]
    # Besides the event stream the page read only the script (for review) and the media.
    assert all(re.search(r"/(script|video|files/captions\.vtt)$", line) for line in reads), reads
    assert sum(1 for line in asked if line.endswith(f"/v1/jobs/{job_id}/events")) <= 2

    script = page.request.get(f"{server.base_url}/v1/jobs/{job_id}/script").json()
    assert script["scenes"][0]["narration"] == edited

    # The video plays and seeks (the API answers Range requests).
    played = page.evaluate("""async () => {
        const video = document.getElementById("result-video");
        video.muted = true;
        if (video.readyState < 1) await new Promise((ok) => video.addEventListener(
            "loadedmetadata", ok, { once: true }));
        await video.play();
        await new Promise((ok) => setTimeout(ok, 1500));
        const playing = video.currentTime;
        video.pause();
        video.currentTime = video.duration / 2;
        await new Promise((ok) => video.addEventListener("seeked", ok, { once: true }));
        return { duration: video.duration, playing, seeked: video.currentTime };
    }""")
    assert played["duration"] > 5, played
    assert played["playing"] > 0.3, played
    assert abs(played["seeked"] - played["duration"] / 2) < 1, played

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the video (MP4)").click()
    saved = tmp_path / "video.mp4"
    download.value.save_as(saved)
    info = probe(saved)
    assert info.video_codec == "h264" and info.duration > 5
    assert (info.width, info.height) == (540, 960)  # a draft of the tiktok preset

    assert "#" in page.get_by_label("Text to post with it").input_value()
    assert "export_folder" in page.locator("#publications").inner_text()
    assert "render" in page.locator("#costs").inner_text()
    vtt = page.request.get(f"{server.base_url}/v1/jobs/{job_id}/files/captions.vtt")
    assert vtt.ok and vtt.text().startswith("WEBVTT")

    page.get_by_role("button", name="Make a draft preview").click()
    page.wait_for_selector("#preview-video:not([hidden])", timeout=WAIT_MS)
    preview = page.evaluate("""async () => {
        const video = document.getElementById("preview-video");
        if (video.readyState < 1) await new Promise((ok) => video.addEventListener(
            "loadedmetadata", ok, { once: true }));
        return video.duration;
    }""")
    assert preview > 5
    report.check_axe(page, "job result (desktop)")
    report.shot(page, "job-desktop")
    page.set_viewport_size(PHONE)
    report.shot(page, "job-phone")
    report.check_axe(page, "job result (phone)")
    assert page.problems == []  # type: ignore[attr-defined]
    _docs_screenshot(report.folder / "job-desktop.png", "job-desktop.png")
    page.context.close()


def test_a_feed_file_starts_a_batch_whose_page_follows_it_to_succeeded(
        browser: Any, server: Server, report: Report, tmp_path: Path) -> None:
    """The feed tab (reached with the arrow keys) uploads a feed file with a progress bar
    and starts a batch; its page shows the counts and items live until it succeeds, with a
    link to each video."""
    page = _page(browser, PHONE)
    _sign_in(page, server)
    feed = tmp_path / "products.json"
    feed.write_bytes(shopify_products(shopify_product(7001, "Linen Tea Towel", "14.00")))
    report.shot(page, "new-video-phone")
    _docs_screenshot(report.folder / "new-video-phone.png", "new-video-phone.png")
    page.get_by_role("tab", name="Idea").focus()
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    assert page.get_by_role("tab", name="Product feed").get_attribute("aria-selected") == "true"
    report.check_axe(page, "new video, feed tab (phone)")
    page.get_by_label("Or a feed file").set_input_files(str(feed))
    page.get_by_label("Quality").select_option("draft")
    page.get_by_role("button", name="Start the batch").click()
    page.wait_for_url(re.compile(r".*/batches/bat_[0-9a-f]+$"), timeout=WAIT_MS)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url)
            if frame == page.main_frame else None)
    page.wait_for_selector("#batch[data-status=succeeded]", timeout=WAIT_MS)
    assert navigations == []
    assert page.locator('[data-count="total"]').inner_text() == "1"
    assert page.locator('[data-count="succeeded"]').inner_text() == "1"
    row = page.locator("#batch-items tr")
    assert "Linen Tea Towel" in row.inner_text() and "Done" in row.inner_text()
    report.shot(page, "batch-phone")
    report.check_axe(page, "batch (phone)")
    row.get_by_role("link", name="Open").click()
    page.wait_for_selector("#result:not([hidden])", timeout=WAIT_MS)
    assert page.locator("#result-video").get_attribute("src", timeout=5000)
    page.goto(server.base_url + "/batches")
    assert "Done" in page.locator("table").inner_text()
    assert page.problems == []  # type: ignore[attr-defined]
    page.context.close()


def test_validation_errors_show_beside_their_fields(browser: Any, server: Server,
                                                    report: Report) -> None:
    """The API's error for a field appears right after that field, marked invalid and
    described by it: an empty idea, and the narration of a script's third scene."""
    page = _page(browser, PHONE)
    _sign_in(page, server)
    page.get_by_role("button", name="Make the video").click()
    error = page.locator("#idea-text + .field-error")
    error.wait_for()
    assert "required" in error.inner_text().lower()
    idea = page.get_by_label("Your idea")
    assert idea.get_attribute("aria-invalid") == "true"
    assert "idea-text-error" in (idea.get_attribute("aria-describedby") or "")
    page.get_by_label("Voice", exact=True).select_option("espeak:en-us")
    page.get_by_role("button", name="Play a sample").click()
    sample = page.locator("#opt-voice-sample")
    sample.wait_for()
    heard = page.evaluate("""async () => {
        const audio = document.getElementById("opt-voice-sample");
        if (audio.readyState < 1) await new Promise((ok) => audio.addEventListener(
            "loadedmetadata", ok, { once: true }));
        return audio.duration;
    }""")
    assert heard > 0.5  # a few seconds of speech
    report.shot(page, "validation-phone")
    report.check_axe(page, "validation error (phone)")

    page.get_by_role("tab", name="My script").click()
    page.get_by_role("button", name="Add a scene").click()
    page.get_by_label("What is said").nth(0).fill("Our market opens at eight.")
    page.get_by_label("What is said").nth(1).fill("Fresh bread comes out at nine.")
    page.get_by_label("Headline on screen (optional)").nth(2).fill("Coffee all day")
    page.get_by_role("button", name="Make the video").click()
    page.locator("#script-scene-2-narration + .field-error").wait_for()
    assert page.locator("#idea-text + .field-error").count() == 0
    assert page.problems == []  # type: ignore[attr-defined]
    page.context.close()


def test_brand_settings_keep_secrets_write_only(browser: Any, server: Server,
                                                report: Report) -> None:
    """A new brand's colour, call to action and LLM key are saved; the key shows as set and
    never as its value; the brand switcher then makes videos for it."""
    page = _page(browser)
    _sign_in(page, server)
    page.get_by_role("link", name="Brands").click()
    page.get_by_label("Name", exact=True).fill("Harbour Bakery")
    page.get_by_role("button", name="Create the brand").click()
    page.wait_for_url(re.compile(r".*/brands/prof_[0-9a-f]+$"))
    page.get_by_label("Main colour").fill("#aa3300")
    page.get_by_label("Call to action").fill("Order by noon for pickup")
    page.get_by_label("Language model key", exact=True).fill("sk-bakery-secret-123")
    page.get_by_role("button", name="Save the settings").click()
    page.locator("#notice", has_text="saved").wait_for()
    assert page.locator('[data-secret-status="llm.api_key"]').inner_text() == "Set"
    page.reload()
    assert page.get_by_label("Call to action").input_value() == "Order by noon for pickup"
    assert page.get_by_label("Main colour").input_value() == "#aa3300"
    assert "sk-bakery-secret-123" not in page.content()
    assert page.locator('[data-secret-status="llm.api_key"]').inner_text() == "Set"
    report.check_axe(page, "brand settings (desktop)")
    report.shot(page, "brand-desktop")
    page.get_by_role("link", name="All brands").click()
    page.get_by_role("button", name="Make Harbour Bakery the default").click()
    page.locator('tr:has-text("Harbour Bakery") .status-succeeded', has_text="Default").wait_for()
    page.get_by_label("Name", exact=True).fill("Short-lived brand")
    page.get_by_role("button", name="Create the brand").click()
    page.wait_for_url(re.compile(r".*/brands/prof_[0-9a-f]+$"))
    page.get_by_role("link", name="All brands").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete Short-lived brand").click()
    page.get_by_role("button", name="Delete Short-lived brand").wait_for(state="detached")
    page.wait_for_load_state()
    page.get_by_role("button", name="Delete Default").wait_for()  # no longer the default
    assert page.get_by_text("Short-lived brand").count() == 0  # nor in the brand switcher
    page.get_by_label("Brand", exact=True).select_option(label="Harbour Bakery")
    page.get_by_role("button", name="Switch").click()
    page.get_by_role("link", name="New video").click()
    assert page.get_by_role("heading", level=1).inner_text() == "New video for Harbour Bakery"
    assert page.problems == []  # type: ignore[attr-defined]
    page.context.close()


def test_sign_out_ends_the_session_and_csrf_less_posts_are_refused(
        browser: Any, server: Server) -> None:
    """A POST carrying the session cookie but not the CSRF token is refused, both to the API
    and to sign-out; after signing out, the old cookie opens neither pages nor the API."""
    page = _page(browser)
    _sign_in(page, server)
    refused = page.evaluate("""async () => {
        const answer = await fetch("/v1/jobs", { method: "POST", credentials: "same-origin",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ source: { type: "idea", idea: "Forged" } }) });
        return { status: answer.status, body: await answer.json() };
    }""")
    assert refused["status"] == 403 and refused["body"]["error"]["code"] == "csrf_failed"
    assert page.request.post(f"{server.base_url}/sign-out", form={}).status == 403
    cookie = next(c for c in page.context.cookies() if c["name"] == "vf_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("() => document.cookie") == ""  # nothing readable by script
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/sign-in\?signed_out=1$"))
    assert page.get_by_text("You are signed out.").is_visible()
    page.context.add_cookies([cookie])
    page.goto(server.base_url + "/jobs")
    assert "/sign-in" in page.url
    assert page.request.get(f"{server.base_url}/v1/jobs").status == 401
    page.context.close()


def test_the_page_works_with_the_fleet(browser: Any, fleet: Any, report: Report) -> None:
    """Against the API with Celery workers on Postgres and Redis, a video made from the page
    shows the workers that ran each stage."""
    page = _page(browser)
    served = Server(fleet.base_url, fleet.api_key, Path("."), Path("."))
    _sign_in(page, served)
    page.get_by_label("Your idea").fill("Three ways to keep bread fresh")
    page.get_by_label("Quality").select_option("draft")
    page.get_by_role("button", name="Make the video").click()
    page.wait_for_url(re.compile(r".*/jobs/job_[0-9a-f]+$"))
    page.wait_for_selector("#result:not([hidden])", timeout=WAIT_MS * 2)
    workers = {page.locator(f'tr[data-stage="{stage}"] [data-col=worker]').inner_text()
               for stage in ("script", "voice", "render")}
    assert any(w.startswith("cpu-e2e@") for w in workers), workers
    assert any(w.startswith("gpu-e2e@") for w in workers), workers
    report.shot(page, "job-fleet-desktop")
    page.context.close()


def _docs_screenshot(source: Path, name: str) -> None:
    """With VF_UPDATE_DOCS_SCREENSHOTS=1, refresh the README's screenshot."""
    if os.environ.get("VF_UPDATE_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, DOCS_SCREENSHOTS / name)
