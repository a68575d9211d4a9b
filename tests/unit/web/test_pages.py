"""The web page's pages: each is complete HTML under a strict Content-Security-Policy, with no
inline script or style, a label on every control, a CSRF token in every form that changes
something, nothing from another site; and another account's objects are 404 pages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api.web.blueprint import CONTENT_SECURITY_POLICY
from store import batches as batch_store
from store import jobs as job_store
from store.db import session_scope
from store.models import Job, utcnow
from store.services import Services
from tests.unit.api.conftest import new_account
from tests.unit.web.conftest import csrf_of, sign_in

WEB = Path(__file__).resolve().parents[3] / "api" / "web"
_ASSET_ATTRIBUTES = ("src", "href", "action", "formaction", "poster", "srcset", "data")
_EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)
_CONTROLS = ("input", "select", "textarea")


@dataclass
class Page:
    """What these tests look at in one page."""

    tags: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    label_for: set[str] = field(default_factory=set)
    inline_scripts: list[str] = field(default_factory=list)
    forms: list[dict[str, object]] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._script: str | None = None
        self._labels = 0  # open <label> elements: a control inside one is labelled
        self._form: dict[str, object] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in _CONTROLS and self._labels:
            attributes["data-wrapped-in-label"] = "1"
        self.page.tags.append((tag, attributes))
        if tag == "label":
            self._labels += 1
            if "for" in attributes:
                self.page.label_for.add(attributes["for"])
        elif tag == "script" and "src" not in attributes:
            self._script = ""
        elif tag == "form":
            self._form = {"attrs": attributes, "hidden": {}}
            self.page.forms.append(self._form)
        elif tag == "input" and self._form is not None and attributes.get("type") == "hidden":
            self._form["hidden"][attributes.get("name", "")] = attributes.get("value", "")  # type: ignore[index]

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._labels -= 1
        elif tag == "script" and self._script is not None:
            self.page.inline_scripts.append(self._script)
            self._script = None
        elif tag == "form":
            self._form = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script += data


def parse(html: str) -> Page:
    """The page's tags, labels, inline scripts and forms."""
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.page


# --- a world with one of everything --------------------------------------------------------

@dataclass
class World:
    """A signed-in browser whose account has jobs in each state, a batch and two brands."""

    browser: FlaskClient
    csrf: str
    jobs: dict[str, str]
    batch: str
    brands: list[str]


def _job(browser: FlaskClient, csrf: str, idea: str, **extra: object) -> str:
    made = browser.post("/v1/jobs", json={"source": {"type": "idea", "idea": idea}, **extra},
                        headers={"X-CSRF-Token": csrf})
    assert made.status_code == 202, made.get_json()
    return str(made.get_json()["id"])


def _finish(services: Services, job_id: str, status: str) -> None:
    """Put the job where a run would have left it: failed in its voice stage, awaiting
    review after its script, or succeeded with a video."""
    with session_scope(services.sessions) as session:
        if status == "failed":
            job_store.mark_stage_failed(session, job_id, "voice", "voice_broke",
                                        "the voice engine stopped")
        else:
            job = session.get(Job, job_id)
            assert job is not None
            for row in job.stages:
                if status == "succeeded" or row.name == "script":
                    row.status, row.worker = "succeeded", "cpu@test"
                    row.started_at = row.finished_at = utcnow()
            job.status = status
            job.current_stage = "voice" if status == "awaiting_review" else None
            if status == "succeeded":
                job.finished_at = utcnow()
                job.artifacts = {**(job.artifacts or {}), "video": f"{job_id}/render/video.mp4"}
        project_id = session.get(Job, job_id).project_id  # type: ignore[union-attr]
    services.locks.release(project_id, job_id)


def _world(client: FlaskClient, services: Services, name: str = "shop") -> World:
    account = new_account(services, name)
    csrf = sign_in(client, account.api_key)
    jobs = {}
    for status in ("queued", "failed", "succeeded", "awaiting_review"):
        jobs[status] = _job(client, csrf, f"Idea {status} of {name}")
        if status != "queued":
            _finish(services, jobs[status], status)
    with session_scope(services.sessions) as session:
        batch = batch_store.create_batch(
            session, account_id=account.account_id, profile_id=account.profile_id,
            preset="tiktok", source={"type": "feed", "url": f"https://{name}.example/feed"},
            options={})
        batch_id = batch.id
    second = client.post("/v1/profiles", json={"name": f"{name} second"},
                         headers={"X-CSRF-Token": csrf}).get_json()["id"]
    return World(client, csrf, jobs, batch_id, [account.profile_id, second])


@pytest.fixture
def world(client: FlaskClient, services: Services) -> World:
    """One account's world, signed in."""
    return _world(client, services)


def _pages(world: World) -> list[str]:
    return ["/", "/jobs", "/jobs?status=failed", f"/jobs?brand={world.brands[0]}",
            *(f"/jobs/{job_id}" for job_id in world.jobs.values()), "/batches",
            "/batches?status=queued", f"/batches/{world.batch}", "/brands",
            *(f"/brands/{brand}" for brand in world.brands), "/jobs/job_missing"]


# --- the tests ---------------------------------------------------------------------------

def test_the_pages_cover_every_page_route(app: Flask, world: World) -> None:
    """The pages these tests check include each GET route of the web blueprint."""
    adapter = app.url_map.bind("localhost")
    visited = {adapter.match(path.split("?")[0])[0] for path in _pages(world)}
    routes = {rule.endpoint for rule in app.url_map.iter_rules()
              if rule.endpoint.startswith("web.") and "GET" in rule.methods
              and rule.endpoint != "web.static"}
    assert routes - visited == {"web.sign_in"}  # checked signed out, below


def test_every_page_has_the_csp_and_no_inline_script_or_style(world: World,
                                                              client: FlaskClient) -> None:
    """Each page (and the sign-in form, and a 404 page) carries the CSP that forbids inline
    script and style, and has no inline <script>, on…= handler or style attribute."""
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    answers = {path: world.browser.get(path) for path in _pages(world)}
    answers["/sign-in"] = client.application.test_client().get("/sign-in")
    for path, response in answers.items():
        assert response.status_code == (404 if "missing" in path else 200), path
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        page = parse(response.get_data(as_text=True))
        assert page.inline_scripts == [], path
        for tag, attributes in page.tags:
            assert tag != "style", path
            bad = [name for name in attributes if name.startswith("on") or name == "style"]
            assert bad == [], (path, tag, bad)


def test_assets_are_ours_and_carry_the_csp(world: World) -> None:
    """The stylesheet and scripts come from /assets with the same headers."""
    for name in ("app.css", "app.js", "new.js", "job.js", "batch.js", "brands.js"):
        with world.browser.get(f"/assets/{name}") as response:
            assert response.status_code == 200, name
            assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_no_page_or_asset_loads_anything_from_elsewhere(world: World) -> None:
    """No src, href, action or poster names another site; no asset names one either."""
    for path in _pages(world):
        for tag, attributes in parse(world.browser.get(path).get_data(as_text=True)).tags:
            for name in _ASSET_ATTRIBUTES:
                value = attributes.get(name, "")
                assert not _EXTERNAL.match(value), (path, tag, name, value)
    for asset in (WEB / "static").iterdir():
        text = asset.read_text()
        text = re.sub(r'xmlns="http://www\.w3\.org/2000/svg"', "", text)  # a name, not a fetch
        assert not re.search(r"(?:https?:)?//[a-z0-9-]+\.[a-z]", text, re.IGNORECASE), asset
        assert "@import" not in text and "eval(" not in text, asset


def test_templates_have_no_inline_handlers_or_styles() -> None:
    """The template sources themselves (every branch, rendered or not) hold no on…=, style=
    or inline script."""
    for template in (WEB / "templates" / "web").glob("*.html"):
        text = template.read_text()
        assert not re.search(r"\son[a-z]+\s*=", text, re.IGNORECASE), template
        assert not re.search(r"\sstyle\s*=", text, re.IGNORECASE), template
        assert "<style" not in text, template
        assert not re.search(r"<script(?![^>]*\ssrc=)", text), template


def test_every_control_has_a_label(world: World, client: FlaskClient) -> None:
    """Each visible input, select and textarea has a <label for>, a wrapping label or an
    aria-label; ids are unique on each page."""
    paths = _pages(world)
    htmls = {path: world.browser.get(path).get_data(as_text=True) for path in paths}
    htmls["/sign-in"] = client.application.test_client().get("/sign-in").get_data(as_text=True)
    for path, html in htmls.items():
        page = parse(html)
        ids = [attributes["id"] for _, attributes in page.tags if "id" in attributes]
        assert len(ids) == len(set(ids)), (path, sorted(i for i in ids if ids.count(i) > 1))
        for tag, attributes in page.tags:
            if tag not in _CONTROLS or attributes.get("type") in ("hidden", "submit", "button"):
                continue
            labelled = (attributes.get("id") in page.label_for or "aria-label" in attributes
                        or "aria-labelledby" in attributes
                        or "data-wrapped-in-label" in attributes)
            assert labelled, (path, tag, attributes)


def test_every_form_that_changes_something_carries_a_csrf_token(world: World) -> None:
    """Every form posts with the session's CSRF token; a GET form (the filters) changes
    nothing and needs none."""
    for path in _pages(world):
        for form in parse(world.browser.get(path).get_data(as_text=True)).forms:
            attrs = form["attrs"]
            assert isinstance(attrs, dict)
            if attrs.get("method", "get").lower() == "get":
                continue
            hidden = form["hidden"]
            assert isinstance(hidden, dict)
            assert hidden.get("csrf_token") == world.csrf, (path, attrs)


def test_the_job_page_shows_each_state(world: World) -> None:
    """Queued: a cancel button; failed: the stage and reason, and retry; awaiting review:
    the review section; succeeded: the video, downloads and captions."""
    pages = {status: parse(world.browser.get(f"/jobs/{job_id}").get_data(as_text=True))
             for status, job_id in world.jobs.items()}

    def element(page: Page, element_id: str) -> dict[str, str]:
        return next(a for _, a in page.tags if a.get("id") == element_id)

    assert "hidden" not in element(pages["queued"], "cancel-job")
    assert "hidden" in element(pages["queued"], "retry-job")
    failed = world.browser.get(f"/jobs/{world.jobs['failed']}").get_data(as_text=True)
    assert "voice stage failed: the voice engine stopped" in failed
    assert "hidden" not in element(pages["failed"], "retry-job")
    assert "hidden" not in element(pages["awaiting_review"], "review")
    assert "hidden" in element(pages["queued"], "review")
    done = pages["succeeded"]
    assert "hidden" not in element(done, "result")
    job_id = world.jobs["succeeded"]
    assert element(done, "result-video")["src"] == f"/v1/jobs/{job_id}/video"
    assert element(done, "download-video")["href"] == f"/v1/jobs/{job_id}/video"
    hrefs = {a.get("href") for tag, a in done.tags if tag == "a"}
    for name in ("captions.srt", "captions.vtt", "captions.json"):
        assert f"/v1/jobs/{job_id}/files/{name}" in hrefs


def test_the_lists_filter_by_status_and_brand(world: World) -> None:
    """The videos list shows only the status and brand asked for."""
    failed = world.browser.get("/jobs?status=failed").get_data(as_text=True)
    assert world.jobs["failed"] in failed and world.jobs["queued"] not in failed
    other_brand = world.browser.get(f"/jobs?brand={world.brands[1]}").get_data(as_text=True)
    assert not any(job_id in other_brand for job_id in world.jobs.values())
    assert world.batch in world.browser.get("/batches?status=queued").get_data(as_text=True)
    assert world.batch not in world.browser.get("/batches?status=failed").get_data(
        as_text=True)


def test_another_accounts_pages_are_404_and_show_nothing_of_it(
        client: FlaskClient, services: Services, app: Flask) -> None:
    """Signed in as A, B's job, batch and brand pages answer exactly as ids nobody owns do,
    and show nothing of B's."""
    b = _world(app.test_client(), services, "quokkab")
    a = _world(client, services, "shopa")
    paths = [*(f"/jobs/{job_id}" for job_id in b.jobs.values()), f"/batches/{b.batch}",
             *(f"/brands/{brand}" for brand in b.brands)]
    for real in paths:
        missing = re.sub(r"_[0-9a-f]+$", lambda m: "_" + "0" * (len(m.group()) - 1), real)
        answer, control = a.browser.get(real), a.browser.get(missing)
        assert answer.status_code == control.status_code == 404, real
        body = answer.get_data(as_text=True)
        # The page names its own address (the brand switcher comes back to it): the id A sent.
        same = control.get_data(as_text=True).replace(missing, real)
        assert body == same, real
        assert "quokkab" not in body.lower(), real
    assert csrf_of(a.browser.get("/").get_data(as_text=True)) == a.csrf
