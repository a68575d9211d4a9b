"""Posting through Postiz exactly once on a real fleet: kill -9 the cpu worker while its post
is on the wire (before Postiz stored it, and after Postiz stored it but before the worker
heard); the restarted worker's reconciler finishes the publication with exactly one post."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import psycopg
import pytest
import requests
from sqlalchemy.engine import make_url

from bench.fleet import fresh_database
from store.migrate import upgrade
from tests.conftest import POSTGRES_ADMIN_URL
from tests.e2e.test_faults import FaultFleet, _fault_fleet
from tests.support.postiz_server import PostizServer, postiz_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postiz() -> Iterator[PostizServer]:
    with postiz_server("pz-fleet-key") as server:
        yield server


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultFleet]:
    with fresh_database(POSTGRES_ADMIN_URL, f"vf_pubfaults_{secrets.token_hex(4)}") as url:
        upgrade(url)
        yield from _fault_fleet(url, tmp_path_factory.mktemp("pubfaults"),
                                SECRET_KEY="a-long-secret-key-for-the-publish-faults-0123",
                                FETCH_ALLOW_HOSTS="127.0.0.1")


def _link_postiz(fleet: FaultFleet, postiz: PostizServer) -> None:
    profiles = requests.get(f"{fleet.base_url}/v1/profiles", headers=fleet.headers(),
                            timeout=10).json()["profiles"]
    answer = requests.patch(
        f"{fleet.base_url}/v1/profiles/{profiles[0]['id']}", headers=fleet.headers(),
        timeout=10, json={"publish": {"postiz": {"base_url": postiz.base_url,
                                                 "api_key": "pz-fleet-key", "type": "now",
                                                 "integrations": {"tiktok": "int-tiktok"}}}})
    assert answer.status_code == 200, answer.text


def _state(fleet: FaultFleet, job_id: str) -> tuple[str, str | None]:
    url = make_url(fleet.database_url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username,
                         password=url.password, dbname=url.database) as db:
        row = db.execute("SELECT state, post_id FROM publications WHERE job_id = %s AND "
                         "destination = 'postiz:tiktok'", (job_id,)).fetchone()
    return (row[0], row[1]) if row else ("none", None)


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_killed_worker_posts_exactly_once(fleet: FaultFleet, postiz: PostizServer,
                                            where: str) -> None:
    _link_postiz(fleet, postiz)
    posts_before = len(postiz.posts)
    postiz.holding.clear()
    postiz.release.clear()
    postiz.drop_held = where == "before"
    postiz.hold = where
    job_id = fleet.submit({"source": {"type": "idea", "idea": f"Why kites fly {where}"},
                           "quality": "draft", "visuals": "generated"})
    assert postiz.holding.wait(400), fleet.logs()
    fleet.kill("cpu")  # the worker dies with its post on the wire
    postiz.release.set()
    fleet.start("cpu", "worker", "--pool", "cpu", "--name", f"cpu-{where}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _state(fleet, job_id)[0] != "queued":
        time.sleep(0.5)
    state, post_id = _state(fleet, job_id)
    assert state == "queued", (state, fleet.logs())
    mine = postiz.posts[posts_before:]
    assert len(mine) == 1 and mine[0].id == post_id
    assert len([s for s in postiz.seen("POST", "/upload")]) >= 1
    body = requests.get(f"{fleet.base_url}/v1/jobs/{job_id}", headers=fleet.headers(),
                        timeout=10).json()
    assert [p["state"] for p in body["publications"] if p["destination"] == "postiz:tiktok"] \
        == ["queued"]
