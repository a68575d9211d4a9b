"""Account A's key against everything account B owns: every route that takes an id, every body
field and list filter that names one. Each answer is the documented 403/404 (or the 422 an
unknown id gets) in the error envelope, indistinguishable from an id that does not exist,
shows nothing of B's, and leaves B's rows, files, locks and queue exactly as they were."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from api.app import create_app
from api.openapi import openapi_document
from store import jobs as job_store
from store.costs import Usage, record_usage
from store.db import session_scope
from store.models import ApiCost, ApiKey, Base, Job, WebhookDelivery, new_id, utcnow
from store.services import Services
from store.settings import Settings
from tests.support.feeds import shopify_product, shopify_products
from tests.support.jobs import migrated_services
from tests.unit.api.conftest import Api, new_account
from tests.unit.api.test_batches import IngestingDispatcher
from tests.unit.api.test_uploads import image_bytes, tone_bytes
from worker.execution import execute_stage, release_project_lock

# B's objects of each kind that every route taking that kind of id is tried with.
JOB_REFS = ("job:queued", "job:awaiting", "job:canceled", "job:failed", "job:succeeded",
            "job:batch")
PROFILE_REFS = ("profile:main", "profile:second")
UPLOAD_REFS = ("upload:still", "upload:clip", "upload:feed")
REFS_BY_VARIABLE = {"job_id": JOB_REFS, "profile_id": PROFILE_REFS,
                    "batch_id": ("batch",), "upload_id": UPLOAD_REFS, "name": ("music",),
                    "file_name": ("file",)}
NOT_FOUND_BY_VARIABLE = {"job_id": "job_not_found", "profile_id": "profile_not_found",
                         "batch_id": "batch_not_found", "upload_id": "upload_not_found"}

A_SCRIPT = {"title": "Written by A", "scenes": [{"narration": "Account A wrote this."}]}
A_PROFILE = {"name": "Renamed by A", "call_to_action": "A's CTA", "hashtags": ["byA"],
             "brand": {"primary": "#000000"}, "review": True}


def _raw(content_type: str, kind: str) -> Callable[[World], dict[str, Any]]:
    return lambda world: {"data": world.bytes[kind], "content_type": content_type}


# Every (method, rule) of the app with a path variable, and what A sends with it: a body that
# would pass validation, so only ownership stands between A and B's object.
ID_ROUTES: dict[tuple[str, str], Callable[[World], dict[str, Any]]] = {
    ("GET", "/v1/jobs/<job_id>"): lambda world: {},
    ("DELETE", "/v1/jobs/<job_id>"): lambda world: {},
    ("POST", "/v1/jobs/<job_id>/retry"): lambda world: {},
    ("GET", "/v1/jobs/<job_id>/script"): lambda world: {},
    ("PUT", "/v1/jobs/<job_id>/script"): lambda world: {"json": A_SCRIPT},
    ("POST", "/v1/jobs/<job_id>/script/regenerate"): lambda world: {"json": {"scene": 0}},
    ("POST", "/v1/jobs/<job_id>/approve"): lambda world: {},
    ("GET", "/v1/jobs/<job_id>/video"): lambda world: {"headers": {"Range": "bytes=0-99"}},
    ("GET", "/v1/jobs/<job_id>/events"): lambda world: {},
    ("GET", "/v1/jobs/<job_id>/files/<file_name>"): lambda world: {},
    ("POST", "/v1/jobs/<job_id>/preview"): lambda world: {},
    ("GET", "/v1/batches/<batch_id>"): lambda world: {"query_string": {"after": "-1"}},
    ("GET", "/v1/batches/<batch_id>/events"): lambda world: {},
    ("GET", "/v1/uploads/<upload_id>"): lambda world: {},
    ("GET", "/v1/profiles/<profile_id>"): lambda world: {},
    ("PATCH", "/v1/profiles/<profile_id>"): lambda world: {"json": A_PROFILE},
    ("DELETE", "/v1/profiles/<profile_id>"): lambda world: {},
    ("POST", "/v1/profiles/<profile_id>/default"): lambda world: {},
    ("PUT", "/v1/profiles/<profile_id>/logo"): _raw("image/png", "logo"),
    ("DELETE", "/v1/profiles/<profile_id>/logo"): lambda world: {},
    ("GET", "/v1/profiles/<profile_id>/music"): lambda world: {},
    ("POST", "/v1/profiles/<profile_id>/music"): lambda world: {
        **_raw("audio/mpeg", "music")(world), "query_string": {"filename": "fromA.mp3"}},
    ("DELETE", "/v1/profiles/<profile_id>/music/<name>"): lambda world: {},
    ("GET", "/v1/profiles/<profile_id>/integrations"): lambda world: {},
}

# Names rather than ids: the music track's (A sends it as it is) and a job file's (the same
# for every job).
NOT_SECRET_REFS = ("music", "file")
_VARIABLE = re.compile(r"<(?:[^:>]+:)?([^>]+)>")
IGNORED_METHODS = {"HEAD", "OPTIONS"}


# --- B's world ---------------------------------------------------------------------------

@dataclass
class World:
    """Accounts A and B on one app; B owns one of everything, A a job of its own."""

    app: Flask
    services: Services
    dispatcher: IngestingDispatcher
    a: Api
    b: Api
    ids: dict[str, str] = field(default_factory=dict)  # ref -> B's id (or music name)
    secrets: dict[str, str] = field(default_factory=dict)  # label -> a value of B's
    bytes: dict[str, bytes] = field(default_factory=dict)
    a_job: str = ""


def _ok(response: Any, status: int) -> Any:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def _b_job(world: World, ref: str, idea: str, **extra: Any) -> str:
    body = {"source": {"type": "idea", "idea": idea}, "preset": "tiktok", **extra}
    job_id = _ok(world.b.create_job(body), 202)["id"]
    world.ids[ref] = job_id
    world.secrets[f"{ref} idea"] = idea.split()[0]
    return job_id


def _release(services: Services, job_id: str) -> None:
    with services.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        release_project_lock(services, job.id, job.project_id)


def _b_profiles(world: World, folder: Path) -> None:
    """B's default profile with settings of every kind, a logo and a track; a second one."""
    b, ids, secrets = world.b, world.ids, world.secrets
    ids["account"], ids["profile:main"] = b.account.account_id, b.account.profile_id
    secrets["B's api key"] = b.account.api_key
    main = f"/v1/profiles/{ids['profile:main']}"
    _ok(b.client.patch(main, headers=b.headers, json={
        "name": "Quokkamainbrand Coffee", "call_to_action": "Quokkacta visit us today",
        "hashtags": ["quokkatag"], "brand": {"primary": "#13579B", "accent": "#2468AC"},
        "captions": {"fill": "#ABCDEF"}}), 200)
    secrets.update({"main profile name": "Quokkamainbrand", "call to action": "Quokkacta",
                    "hashtag": "quokkatag", "brand primary": "13579B",
                    "brand accent": "2468AC", "caption fill": "ABCDEF"})
    ids["profile:second"] = _ok(b.client.post("/v1/profiles", headers=b.headers, json={
        "name": "Quokkasecond Tea", "call_to_action": "Quokkasecondcta"}), 201)["id"]
    secrets.update({"second profile name": "Quokkasecond", "second cta": "Quokkasecondcta"})
    _ok(b.client.put(f"{main}/logo", data=image_bytes((48, 24)), headers=b.headers,
                     content_type="image/png"), 200)
    world.bytes["music"] = tone_bytes(folder, seconds=6, name="quokka.mp3")
    music = _ok(b.client.post(f"{main}/music?filename=quokkatrack.mp3", headers=b.headers,
                              data=world.bytes["music"], content_type="audio/mpeg"), 201)
    assert music == {"music": ["quokkatrack.mp3"]}
    ids["music"] = secrets["music name"] = "quokkatrack.mp3"
    ids["file"] = "captions.srt"  # a name every job's files route knows
    world.bytes["logo"] = image_bytes((40, 20))  # what A sends as a logo


def _b_uploads(world: World, small_mp4: Path) -> None:
    """A still picture, a clip and a feed of B's."""
    b = world.b
    for ref, data, name, kind in (
            ("upload:still", image_bytes((64, 48)), "quokkastill.png", "media"),
            ("upload:clip", small_mp4.read_bytes(), "quokkaclip.mp4", "media"),
            ("upload:feed", shopify_products(shopify_product(777123, "Quokkaproduct Deluxe",
                                                             "19.99")),
             "quokkafeed.json", "feed")):
        upload = _ok(b.client.post("/v1/uploads", data=data, headers=b.headers,
                                   query_string={"filename": name, "kind": kind},
                                   content_type="application/octet-stream"), 201)
        world.ids[ref] = upload["id"]
        world.secrets[f"{ref} filename"] = name.split(".")[0]
    world.secrets.update({"feed product title": "Quokkaproduct", "feed product id": "777123"})


def _b_jobs(world: World, small_mp4: Path) -> None:
    """B's jobs in each state a route could act on: queued, awaiting review (its real script
    written), canceled, failed and succeeded (with a video)."""
    b, services, ids, secrets = world.b, world.services, world.ids, world.secrets
    _b_job(world, "job:queued", "Quokkaqueued mornings taste better with fresh beans")
    _b_job(world, "job:awaiting", "Quokkareview why cold brew tastes smoother", review=True)
    execute_stage(services, "script", ids["job:awaiting"], worker="script@test")
    script = _ok(b.get(f"/v1/jobs/{ids['job:awaiting']}/script"), 200)
    secrets["script narration"] = script["scenes"][0]["narration"]
    canceled = _b_job(world, "job:canceled", "Quokkacancel the best milk for a flat white")
    _ok(b.client.delete(f"/v1/jobs/{canceled}", headers=b.headers), 202)
    failed = _b_job(world, "job:failed", "Quokkafail grinding beans at home")
    with session_scope(services.sessions) as session:
        job_store.mark_stage_failed(session, failed, "voice", "quokka_failure",
                                    "Quokkafailmessage the voice broke")
    secrets.update({"failure code": "quokka_failure", "failure message": "Quokkafailmessage"})
    succeeded = _b_job(world, "job:succeeded", "Quokkadone three latte art tricks")
    video = f"{succeeded}/render/video.mp4"
    services.media.put_file(video, small_mp4)
    with session_scope(services.sessions) as session:
        job = session.get(Job, succeeded)
        assert job is not None
        for row in job.stages:
            row.status, row.finished_at = "succeeded", utcnow()
        job.status, job.current_stage, job.finished_at = "succeeded", None, utcnow()
        job.artifacts = {**(job.artifacts or {}), "video": video}
    for job_id in (failed, succeeded):
        _release(services, job_id)


def _b_usage(world: World) -> None:
    """B's api_costs rows, with numbers nothing of A's could show by chance, and a webhook
    delivery (no route takes its id, but the list's cursor does)."""
    ids = world.ids
    with session_scope(world.services.sessions) as session:
        record_usage(session, ids["job:succeeded"], Usage(
            provider="llm:quokkamodel", operation="script", units=9753124.0, unit="tokens",
            seconds=24.681357, prompt_tokens=8642097, completion_tokens=1357911,
            price_input_per_1k=0.777, price_output_per_1k=0.333))
        record_usage(session, ids["job:awaiting"], Usage(
            provider="piper", operation="voice", units=4242.4242, unit="speech_seconds"))
        delivery = WebhookDelivery(
            id=new_id("whd"), account_id=ids["account"], profile_id=ids["profile:main"],
            event="job.succeeded", subject=ids["job:succeeded"],
            url="https://quokkahook.example/b", body='{"quokkabody": true}', status="failed",
            attempts=3, last_status=500, last_error="Quokkahookerror", next_attempt_at=None)
        session.add(delivery)
        ids["delivery"] = delivery.id
    world.secrets.update({"cost provider": "quokkamodel", "prompt tokens": "8642097",
                          "completion tokens": "1357911", "cost units": "9753124",
                          "cost usd": "7167.093732", "speech seconds": "4242.4242",
                          "webhook url": "quokkahook", "webhook error": "Quokkahookerror"})
    costs = _ok(world.b.get(f"/v1/costs?profile_id={ids['profile:main']}"), 200)
    assert costs["total_usd"] == "7167.093732", costs  # B sees its own costs


def _b_batch(world: World) -> None:
    """A batch read from B's uploaded feed; its item makes one more job."""
    b, ids = world.b, world.ids
    queued = len(world.dispatcher.dispatched)
    batch = _ok(b.client.post("/v1/batches", headers=b.headers, json={
        "source": {"type": "feed", "upload_id": ids["upload:feed"]}}), 202)
    ids["batch"] = batch["id"]
    ids["job:batch"] = world.dispatcher.dispatched[queued]


def _b_ids(world: World) -> None:
    """Every id of B's, its projects', cost rows' and keys' too, is a value A must not see."""
    ids = world.ids
    with world.services.sessions() as session:
        for ref in JOB_REFS:
            job = session.get(Job, ids[ref])
            assert job is not None and job.project_id is not None
            ids[ref.replace("job:", "project:")] = job.project_id
        ids.update({f"cost:{i}": cost for i, cost in enumerate(session.scalars(
            select(ApiCost.id).where(ApiCost.profile_id == ids["profile:main"])))})
        ids.update({f"api key:{i}": key for i, key in enumerate(session.scalars(
            select(ApiKey.id).where(ApiKey.account_id == ids["account"])))})
    world.secrets.update({f"B's id {ref}": value for ref, value in ids.items()
                          if ref not in NOT_SECRET_REFS})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, small_mp4: Path) -> Iterator[World]:
    """B's world, built once: every case only reads it (and proves it did)."""
    root = tmp_path_factory.mktemp("cross-account")
    settings = Settings.from_env({"DATA_DIR": str(root / "data")})
    with migrated_services(settings) as services:
        dispatcher = IngestingDispatcher(services)
        app = create_app(services=services, dispatcher=dispatcher)
        client = app.test_client()
        a = Api(client, new_account(services, "account-a"))
        b = Api(client, new_account(services, "account-b"))
        world = World(app=app, services=services, dispatcher=dispatcher, a=a, b=b)
        _b_profiles(world, root)
        _b_uploads(world, small_mp4)
        _b_jobs(world, small_mp4)
        _b_usage(world)
        _b_batch(world)
        _b_ids(world)
        world.a_job = _ok(a.create_job({"source": {"type": "idea",
                                                   "idea": "Espresso basics for beginners"}}),
                          202)["id"]
        yield world


# --- what a case proves ------------------------------------------------------------------

class Refs:
    """Resolves a case's refs to B's ids, or to fresh ids of the same kind that nobody owns;
    remembers every value it handed out (the caller sent those, so they may be echoed)."""

    def __init__(self, world: World, *, missing: bool) -> None:
        self.world, self.missing = world, missing
        self.sent: dict[str, str] = {}

    def __getitem__(self, ref: str) -> str:
        if ref not in self.sent:
            real = self.world.ids[ref]
            fake = ref not in NOT_SECRET_REFS and self.missing
            self.sent[ref] = new_id(real.split("_")[0]) if fake else real
        return self.sent[ref]


@dataclass(frozen=True)
class Case:
    """One request of A's naming B's objects, and the answer it must get."""

    name: str
    method: str
    path: str  # with {ref} fields, e.g. /v1/jobs/{job:queued}
    request: Callable[[World, Refs], dict[str, Any]]
    status: int
    code: str | None = None  # the error code; None for a 200 list
    field: str | None = None
    rule: tuple[str, str] | None = None  # the (method, rule) of the app it covers
    documented: str | None = None  # the OpenAPI path whose operation must list the status
    like_missing: bool = True  # answers exactly as an id nobody owns


def _path_cases() -> list[Case]:
    cases = []
    for (method, rule), request in ID_ROUTES.items():
        variables = _VARIABLE.findall(rule)
        combos: list[dict[str, str]] = [{}]
        for variable in variables:
            combos = [{**combo, variable: ref} for combo in combos
                      for ref in REFS_BY_VARIABLE[variable]]
        for combo in combos:
            path = _VARIABLE.sub(lambda m, c=combo: "{" + c[m.group(1)] + "}", rule)
            cases.append(Case(
                name=f"{method} {rule} {' '.join(combo.values())}", method=method, path=path,
                request=lambda world, refs, r=request: r(world), status=404,
                code=NOT_FOUND_BY_VARIABLE[variables[0]], rule=(method, rule),
                documented=_VARIABLE.sub(r"{\1}", rule)))
    return cases


def _job_body(source: Callable[[Refs], dict[str, Any]], **extra: Any
              ) -> Callable[[World, Refs], dict[str, Any]]:
    return lambda world, refs: {"json": {"source": source(refs), "preset": "tiktok",
                                         **{k: v(refs) for k, v in extra.items()}}}


def _idea(refs: Refs) -> dict[str, Any]:
    return {"type": "idea", "idea": "Account A's own idea about tea"}


def _feed(refs: Refs) -> dict[str, Any]:
    return {"type": "feed", "url": "https://shop.example/feed.xml", "format": "shopify"}


def _header(ref: str, body: Callable[[World, Refs], dict[str, Any]]
            ) -> Callable[[World, Refs], dict[str, Any]]:
    return lambda world, refs: {**body(world, refs), "headers": {"X-Profile-Id": refs[ref]}}


def _body_cases() -> list[Case]:
    unknown = {"status": 422, "code": "unknown_upload"}
    jobs = {"method": "POST", "path": "/v1/jobs", "documented": "/v1/jobs"}
    batches = {"method": "POST", "path": "/v1/batches", "documented": "/v1/batches"}
    forbidden = {"status": 403, "code": "profile_forbidden", "like_missing": False}
    cases = []
    for profile in PROFILE_REFS:
        cases += [
            Case(f"POST /v1/jobs profile_id {profile}", **jobs, **forbidden, field="profile_id",
                 request=_job_body(_idea, profile_id=lambda refs, p=profile: refs[p])),
            Case(f"POST /v1/jobs X-Profile-Id {profile}", **jobs, **forbidden,
                 field="X-Profile-Id", request=_header(profile, _job_body(_idea))),
            Case(f"POST /v1/batches profile_id {profile}", **batches, **forbidden,
                 field="profile_id",
                 request=_job_body(_feed, profile_id=lambda refs, p=profile: refs[p])),
            Case(f"POST /v1/batches X-Profile-Id {profile}", **batches, **forbidden,
                 field="X-Profile-Id", request=_header(profile, _job_body(_feed))),
        ]
    for job in JOB_REFS:
        project = job.replace("job:", "project:")
        cases += [
            Case(f"POST /v1/jobs project_id {project}", **jobs, status=404,
                 code="project_not_found", field="project_id",
                 request=_job_body(_idea, project_id=lambda refs, p=project: refs[p])),
            # The profile is resolved first: B's profile is forbidden whatever the project.
            Case(f"POST /v1/jobs project_id {project} and B's profile", **jobs, **forbidden,
                 field="profile_id",
                 request=_job_body(_idea, project_id=lambda refs, p=project: refs[p],
                                   profile_id=lambda refs: refs["profile:main"])),
        ]
    for upload in ("upload:still", "upload:clip"):
        cases += [
            Case(f"POST /v1/jobs source.media {upload}", **jobs, **unknown,
                 field="source.media.0.upload_id",
                 request=_job_body(lambda refs, u=upload: {
                     **_idea(refs), "media": [{"upload_id": refs[u]}]})),
            Case(f"POST /v1/jobs script scene media {upload}", **jobs, **unknown,
                 field="source.scenes.0.media.0",
                 request=_job_body(lambda refs, u=upload: {"type": "script", "scenes": [
                     {"narration": "Account A speaks.", "media": [refs[u]]}]})),
        ]
    cases += [
        Case("POST /v1/jobs clip source upload:clip", **jobs, **unknown, field="source.upload_id",
             request=_job_body(lambda refs: {"type": "clip", "upload_id": refs["upload:clip"]})),
        Case("POST /v1/jobs product images upload:still", **jobs, **unknown,
             request=_job_body(lambda refs: {"type": "product", "title": "A's mug",
                                             "images": [refs["upload:still"]]})),
        Case("POST /v1/jobs compilation items upload:still", **jobs, **unknown,
             request=_job_body(lambda refs: {"type": "collection", "mode": "compilation",
                                             "items": [refs["upload:still"]] * 2})),
        Case("POST /v1/batches feed upload:feed", **batches, **unknown, field="source.upload_id",
             request=_job_body(lambda refs: {"type": "feed",
                                             "upload_id": refs["upload:feed"]})),
        Case("POST /v1/batches collection items upload:still", **batches, **unknown,
             request=_job_body(lambda refs: {"type": "collection", "mode": "each",
                                             "items": [refs["upload:still"]]})),
    ]
    return cases


def _query(**params: str) -> Callable[[World, Refs], dict[str, Any]]:
    return lambda world, refs: {"query_string": {k: refs[v] for k, v in params.items()}}


def _list_cases() -> list[Case]:
    empty_jobs = {"method": "GET", "path": "/v1/jobs", "status": 200, "documented": "/v1/jobs"}
    cases = [Case(f"GET /v1/jobs?profile_id={p}", **empty_jobs, request=_query(profile_id=p))
             for p in PROFILE_REFS]
    cases += [Case(f"GET /v1/jobs?project_id={j.replace('job:', 'project:')}", **empty_jobs,
                   request=_query(project_id=j.replace("job:", "project:")))
              for j in JOB_REFS]
    cases += [Case(f"GET /v1/jobs?before={j}", method="GET", path="/v1/jobs", status=422,
                   code="invalid_field", field="before", documented="/v1/jobs",
                   request=_query(before=j)) for j in JOB_REFS]
    cases += [
        Case("GET /v1/batches?before=batch", method="GET", path="/v1/batches", status=422,
             code="invalid_field", field="before", documented="/v1/batches",
             request=_query(before="batch")),
        Case("GET /v1/webhooks/deliveries?before=delivery", method="GET",
             path="/v1/webhooks/deliveries", status=422, code="invalid_field", field="before",
             documented="/v1/webhooks/deliveries", request=_query(before="delivery")),
    ]
    for profile in PROFILE_REFS:
        for group in ("provider", "job", "profile"):
            cases.append(Case(
                f"GET /v1/costs?profile_id={profile}&group_by={group}", method="GET",
                path="/v1/costs", status=404, code="profile_not_found", field="profile_id",
                documented="/v1/costs",
                request=lambda world, refs, p=profile, g=group: {
                    "query_string": {"profile_id": refs[p], "group_by": g}}))
    return cases


CASES = _path_cases() + _body_cases() + _list_cases()


def _send(world: World, case: Case, refs: Refs) -> Any:
    request = case.request(world, refs)
    path = re.sub(r"\{([^}]+)\}", lambda m: refs[m.group(1)], case.path)
    headers = {**world.a.headers, **request.pop("headers", {})}
    return world.a.client.open(path, method=case.method, headers=headers, **request)


def _snapshot(world: World) -> dict[str, Any]:
    """Every row of every table (but the keys' last use), every stored file's digest, the
    project locks and what was queued: all a request could change."""
    rows: dict[str, Any] = {}
    with world.services.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.c if (table.name, c.name) != ("api_keys", "last_used_at")]
            rows[table.name] = sorted(tuple(str(v) for v in row) for row in
                                      connection.execute(select(*columns)))
    root = world.services.settings.media_root
    files = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(root.rglob("*")) if p.is_file() and ".scratch" not in p.parts}
    locks = {ref: world.services.locks.holder(project) for ref, project in world.ids.items()
             if ref.startswith("project:")}
    return {"rows": rows, "files": files, "locks": locks,
            "dispatched": list(world.dispatcher.dispatched),
            "ingested": list(world.dispatcher.ingested)}


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    changed = [f"{part}: {name}" for part in ("rows", "files", "locks")
               for name in sorted(set(before[part]) | set(after[part]))
               if before[part].get(name) != after[part].get(name)]
    changed += [part for part in ("dispatched", "ingested") if before[part] != after[part]]
    return changed


@pytest.fixture(scope="module")
def baseline(world: World) -> dict[str, Any]:
    """Everything as it stood before A's first request."""
    return _snapshot(world)


def assert_nothing_of_b(world: World, response: Any, allowed: set[str]) -> None:
    """Neither body nor headers show a value of B's, but for the ids the caller sent."""
    shown = response.get_data(as_text=True) + "\n" + "\n".join(
        f"{name}: {value}" for name, value in response.headers.items())
    leaked = [label for label, value in world.secrets.items()
              if value not in allowed and value.lower() in shown.lower()]
    assert not leaked, f"{leaked} shown to account A: {shown}"


def _canonical(body: Any, fakes: dict[str, str]) -> str:
    """The JSON as text, each fake id replaced by the real one it stood for."""
    text = json.dumps(body, sort_keys=True)
    for fake, real in fakes.items():
        text = text.replace(fake, real)
    return text


def _static(endpoint: str) -> bool:
    # Flask's static-file views (the app's, a blueprint's) serve package files, no account's.
    return endpoint == "static" or endpoint.endswith(".static")


def _web_page(endpoint: str) -> bool:
    # The web page's routes answer a signed-in browser, never a key: their own cross-account
    # cases (another account's job, batch or brand is a 404 page) are in tests/unit/web.
    return endpoint.startswith("web.")


# --- the tests ---------------------------------------------------------------------------

def test_every_route_with_an_id_is_in_the_matrix(world: World) -> None:
    """Each route of the app that takes a path variable has its cross-account cases, and the
    matrix names no route the app lacks."""
    routes = {(method, rule.rule) for rule in world.app.url_map.iter_rules()
              if rule.arguments and not _static(rule.endpoint) and not _web_page(rule.endpoint)
              for method in rule.methods - IGNORED_METHODS}
    assert routes - set(ID_ROUTES) == set(), "routes without cross-account cases"
    assert set(ID_ROUTES) - routes == set(), "cases of routes the app lacks"
    assert all(variable in REFS_BY_VARIABLE for _, rule in routes
               for variable in _VARIABLE.findall(rule))


@pytest.mark.usefixtures("baseline")  # taken before A's first request
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_account_a_gets_nothing_of_b(world: World, case: Case) -> None:
    """A's request naming B's object answers as documented, exactly as for an id nobody owns,
    shows nothing of B's and changes nothing anywhere."""
    before = _snapshot(world)
    real = Refs(world, missing=False)
    response = _send(world, case, real)
    body = response.get_json(silent=True)
    assert response.status_code == case.status, body
    if case.documented is not None:
        path = openapi_document()["paths"].get(case.documented, {})
        assert case.method.lower() in path, "the operation is not in the OpenAPI document"
        assert str(case.status) in path[case.method.lower()]["responses"], \
            "an undocumented status"
    if case.code is not None:
        assert isinstance(body, dict) and set(body) == {"error"}, body
        assert set(body["error"]) in ({"code", "message"}, {"code", "message", "field"}), body
        assert body["error"]["code"] == case.code, body
        if case.field is not None:
            assert body["error"].get("field") == case.field, body
    assert_nothing_of_b(world, response, set(real.sent.values()))
    if case.like_missing:
        missing = Refs(world, missing=True)
        control = _send(world, case, missing)
        assert control.status_code == response.status_code
        fakes = {missing.sent[ref]: real.sent[ref] for ref in missing.sent}
        assert _canonical(control.get_json(silent=True), fakes) == _canonical(body, {}), \
            "B's id answers differently from an id nobody owns"
    assert _changes(before, _snapshot(world)) == [], "A's request changed something"


def test_list_routes_show_only_a_s_own(world: World, baseline: dict[str, Any]) -> None:
    """Unfiltered lists of jobs, batches, profiles, deliveries and costs hold A's own data and
    nothing of B's."""
    a = world.a
    listed = {"jobs": a.get("/v1/jobs?limit=100"), "batches": a.get("/v1/batches"),
              "profiles": a.get("/v1/profiles"), "deliveries": a.get("/v1/webhooks/deliveries")}
    listed.update({f"jobs {status}": a.get(f"/v1/jobs?status={status}")
                   for status in job_store.JOB_STATUSES})
    listed.update({f"costs by {group}": a.get(f"/v1/costs?group_by={group}")
                   for group in ("provider", "day", "job", "profile", "operation")})
    for name, response in listed.items():
        assert response.status_code == 200, (name, response.get_json())
        assert_nothing_of_b(world, response, set())
    assert [job["id"] for job in listed["jobs"].get_json()["jobs"]] == [world.a_job]
    assert [p["id"] for p in listed["profiles"].get_json()["profiles"]] == [
        a.account.profile_id]
    assert listed["batches"].get_json()["batches"] == []
    assert listed["deliveries"].get_json()["deliveries"] == []
    assert listed["costs by job"].get_json()["groups"] == []
    assert _changes(baseline, _snapshot(world)) == []


def test_b_still_has_everything(world: World, baseline: dict[str, Any]) -> None:
    """After all of A's requests, B reads back its profile, logo, music, jobs and costs as
    they were made."""
    b, ids = world.b, world.ids
    profile = _ok(b.get(f"/v1/profiles/{ids['profile:main']}"), 200)
    assert (profile["name"], profile["call_to_action"], profile["hashtags"]) == (
        "Quokkamainbrand Coffee", "Quokkacta visit us today", ["quokkatag"])
    assert profile["brand"] == {"primary": "#13579B", "accent": "#2468AC"}
    assert (profile["is_default"], profile["logo"], profile["music"]) == (
        True, True, ["quokkatrack.mp3"])
    assert _ok(b.get(f"/v1/profiles/{ids['profile:second']}"), 200)["is_default"] is False
    statuses = {ref: _ok(b.get(f"/v1/jobs/{ids[ref]}"), 200)["status"] for ref in JOB_REFS}
    assert statuses == {"job:queued": "queued", "job:awaiting": "awaiting_review",
                        "job:canceled": "canceled", "job:failed": "failed",
                        "job:succeeded": "succeeded", "job:batch": "queued"}
    assert _ok(b.get("/v1/costs"), 200)["total_usd"] == "7167.093732"
    video = b.get(f"/v1/jobs/{ids['job:succeeded']}/video")
    assert (video.status_code, video.mimetype) == (200, "video/mp4")
    assert _changes(baseline, _snapshot(world)) == []


def _feed_batch(api: Api, feed: bytes) -> dict[str, Any]:
    upload = _ok(api.client.post("/v1/uploads", data=feed, headers=api.headers,
                                 query_string={"kind": "feed", "filename": "feed.json"},
                                 content_type="application/octet-stream"), 201)
    batch = _ok(api.client.post("/v1/batches", headers=api.headers, json={
        "source": {"type": "feed", "upload_id": upload["id"]}}), 202)
    return _ok(api.get(f"/v1/batches/{batch['id']}"), 200)  # type: ignore[no-any-return]


def test_the_same_products_never_reuse_another_account_s_job(services: Services) -> None:
    """A batch reuses the job an earlier batch of the same account made for an unchanged
    product, but A's batch of exactly B's products makes A's own job."""
    dispatcher = IngestingDispatcher(services)
    client = create_app(services=services, dispatcher=dispatcher).test_client()
    a, b = (Api(client, new_account(services, name)) for name in ("account-a", "account-b"))
    feed = shopify_products(shopify_product(4242, "Quokka Travel Mug", "12.00"))

    [b_item] = _feed_batch(b, feed)["items"]
    [again] = _feed_batch(b, feed)["items"]  # the same account: reused, as designed
    assert again["job_id"] == b_item["job_id"]

    [a_item] = _feed_batch(a, feed)["items"]
    assert a_item["job_id"] not in (None, b_item["job_id"])
    with services.sessions() as session:
        job = session.get(Job, a_item["job_id"])
        assert job is not None and job.account_id == a.account.account_id
    assert _ok(a.get(f"/v1/jobs/{a_item['job_id']}"), 200)["status"] == "queued"
    assert _ok(b.get(f"/v1/jobs/{b_item['job_id']}"), 200)["status"] == "queued"


# Values of B's that no answer shows even to B: the key, and ids no route hands out.
NEVER_SHOWN = {"B's api key", "B's id account", "B's id api key:0", "B's id cost:0",
               "B's id cost:1"}


def test_b_sees_every_value_a_must_not(world: World) -> None:
    """The values the leak check looks for are real: B's own answers show each of them, so a
    route that served B's object to A would show them too."""
    b, ids = world.b, world.ids
    paths = ["/v1/profiles", "/v1/jobs?limit=100", "/v1/batches",
             f"/v1/batches/{ids['batch']}", "/v1/webhooks/deliveries",
             *(f"/v1/costs?group_by={group}" for group in ("provider", "job", "profile")),
             *(f"/v1/jobs/{ids[ref]}" for ref in JOB_REFS),
             f"/v1/jobs/{ids['job:awaiting']}/script",
             *(f"/v1/uploads/{ids[ref]}" for ref in UPLOAD_REFS)]
    shown = "\n".join(json.dumps(_ok(b.get(path), 200)) for path in paths).lower()
    unseen = {label for label, value in world.secrets.items() if value.lower() not in shown}
    assert unseen == NEVER_SHOWN
