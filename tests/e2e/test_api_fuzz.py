"""Schemathesis, a client nobody here wrote, fuzzes every operation of the live API.

`videofactory serve` runs as its own process on a fresh Postgres database and a private Redis
DB number, with the Celery dispatcher and no worker: jobs the fuzzer makes stay queued and
nothing renders. Before the run the test makes a few real resources (profiles with a logo and
a track, uploads, jobs, a batch) and hands their ids to Schemathesis as dictionaries, so half
the path parameters it sends name something that exists and reach past the 404.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from bench.fleet import fleet_env, free_port, fresh_database, run, start, stop, wait_for_http
from store.services import build_services
from store.settings import Settings
from tests.conftest import POSTGRES_ADMIN_URL
from tests.e2e.fleet_support import private_redis
from worker.execution import execute_stage

pytestmark = pytest.mark.slow

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance")
# Per operation and phase: about 4,000 test cases, half a minute on two cores.
MAX_EXAMPLES = int(os.environ.get("VF_FUZZ_MAX_EXAMPLES", "25"))


@dataclass(frozen=True)
class LiveApi:
    """A running `videofactory serve` and the key of the account made for the run."""

    base_url: str
    api_key: str
    env: dict[str, str]
    log: Path

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def call(self, method: str, path: str, status: int, **kwargs: Any) -> Any:
        """Send a request, assert its status, return the JSON body."""
        response = requests.request(method, self.base_url + path, headers=self.headers(),
                                    timeout=30, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        return response.json()


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """The API as a process on a new database (migrated by the CLI, dropped afterwards) and a
    Redis number of its own (flushed afterwards)."""
    root = tmp_path_factory.mktemp("fuzz")
    with fresh_database(POSTGRES_ADMIN_URL, f"vf_fuzz_{secrets.token_hex(4)}") as database_url, \
            private_redis() as redis_url:
        port = free_port()
        # The fuzzer sends hundreds of jobs and uploads a minute: no rate limit may answer
        # for the code under test (429 stays documented, and the quotas stay on).
        # Event streams of jobs that never finish (no worker) end after a second, not five
        # minutes.
        env = fleet_env(database_url, redis_url, root, API_PORT=str(port),
                        REDIS_KEY_PREFIX="vf-fuzz", RATE_LIMIT_JOBS_PER_MINUTE="1000000",
                        RATE_LIMIT_UPLOADS_PER_MINUTE="1000000", EVENTS_STREAM_SECONDS="1",
                        LOG_LEVEL="INFO")
        run(["db", "upgrade"], env)
        api_key = run(["accounts", "create", "fuzz-shop"], env).strip().splitlines()[-1]
        log = root / "api.log"
        process = start(["serve"], env, log)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/v1/health")
            yield LiveApi(f"http://127.0.0.1:{port}", api_key, env, log)
        finally:
            stop([process])


def _png(size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


def _wav(folder: Path, seconds: int = 6) -> bytes:
    path = folder / "bed.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    f"sine=frequency=440:duration={seconds}", str(path)],
                   check=True, timeout=60)
    return path.read_bytes()


def _awaiting_review(api: LiveApi, job_id: str) -> None:
    """Run the job's real script stage here, as a cpu worker would: it then awaits review."""
    services = build_services(Settings.from_env(api.env))
    try:
        execute_stage(services, "script", job_id, worker="script@fuzz")
    finally:
        services.close()
    assert api.call("GET", f"/v1/jobs/{job_id}", 200)["status"] == "awaiting_review"


def seed_resources(api: LiveApi, folder: Path) -> dict[str, list[str]]:
    """Make a few of each resource the path parameters name; return their ids by parameter.
    There are several of each, as the fuzzer deletes and changes some early in the run."""
    default = api.call("GET", "/v1/profiles", 200)["profiles"][0]["id"]
    profiles, wav = [], _wav(folder)
    for number in range(3):
        profile = api.call("POST", "/v1/profiles", 201, json={"name": f"fuzz {number}"})["id"]
        api.call("PUT", f"/v1/profiles/{profile}/logo", 200, data=_png())
        music = api.call("POST", f"/v1/profiles/{profile}/music?filename=bed.wav", 201,
                         data=wav)["music"]
        profiles.append(profile)
    picture = api.call("POST", "/v1/uploads?filename=red.png", 201, data=_png())["id"]
    feed_csv = ("id,title,description,price,image,link\n"
                "1,Mug,A blue mug,9.99 USD,http://127.0.0.1:1/mug.png,http://127.0.0.1:1/mug\n")
    feed = api.call("POST", "/v1/uploads?kind=feed&filename=feed.csv", 201,
                    data=feed_csv.encode())["id"]
    batch = api.call("POST", "/v1/batches", 202,
                     json={"source": {"type": "feed", "upload_id": feed}})["id"]
    ideas = ("Why cold brew tastes smoother", "How tea leaves unfurl",
             "What makes sourdough sour", "Why bamboo grows so fast")
    # Profiles 0 and 2 keep a job under way, so DELETE answers 409 profile_in_use for them
    # and they stay for the other operations; profile 1 (its job canceled) can go.
    owners = (profiles[0], profiles[1], profiles[2], profiles[0])
    jobs = [api.call("POST", "/v1/jobs", 202,
                     json={"source": {"type": "idea", "idea": idea}, "profile_id": owner,
                           "review": number >= 2})["id"]
            for number, (idea, owner) in enumerate(zip(ideas, owners, strict=True))]
    api.call("DELETE", f"/v1/jobs/{jobs[1]}", 202)  # canceled: retry can take it
    for job_id in jobs[2:]:  # their script can be read, replaced, regenerated, approved
        _awaiting_review(api, job_id)
    return {"job_id": jobs, "profile_id": [default, *profiles], "upload_id": [picture, feed],
            "batch_id": [batch], "name": music}


def schemathesis_config(ids: dict[str, list[str]]) -> str:
    """A schemathesis.toml that draws each path parameter from the real ids half the time."""
    lines = ["[parameters]"]
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}' for name in ids]
    for name, values in ids.items():
        lines += ["", f"[dictionaries.{name}]", f"values = {json.dumps(values)}"]
    return "\n".join(lines) + "\n"


def summarise(report: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Schemathesis's own numbers, as the test records and prints them."""
    return {"seed": report["seed"], "operations_total": report["operations"]["total"],
            "operations_tested": report["operations"]["tested"],
            "test_cases": report["test_cases"]["generated"],
            "test_cases_with_failures": report["test_cases"]["with_failures"],
            "unique_failures": report["test_cases"]["unique_failures"],
            "errors": report["errors"], "failures": report["failures"],
            "phases": {name: phase["status"] for name, phase in report["phases"].items()},
            "schemathesis_seconds": round(report["running_time"], 1),
            "wall_seconds": round(seconds, 1), "max_examples": MAX_EXAMPLES,
            "schemathesis_version": report["schemathesis_version"]}


def test_schemathesis_finds_nothing(live_api: LiveApi, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Every operation of GET /v1/openapi.json, with valid and invalid data, answers no 5xx
    and only documented statuses, content types and bodies."""
    served = requests.get(f"{live_api.base_url}/v1/openapi.json", timeout=10)
    document = served.json()
    # From a file: loaded from its URL, Schemathesis leaves out the operation that serves it.
    schema = tmp_path / "openapi.json"
    schema.write_bytes(served.content)
    operations = sum(1 for item in document["paths"].values() for method in item
                     if method in {"get", "put", "post", "patch", "delete"})
    config = tmp_path / "schemathesis.toml"
    config.write_text(schemathesis_config(seed_resources(live_api, tmp_path)))
    seed = os.environ.get("VF_FUZZ_SEED") or str(secrets.randbelow(2**31))
    reports = tmp_path / "report"
    argv = [SCHEMATHESIS, "--no-color", "--config-file", str(config), "run", str(schema),
            "--url", live_api.base_url,
            "--header", f"Authorization: Bearer {live_api.api_key}",
            "--checks", ",".join(CHECKS), "--mode", "all", "--max-examples", str(MAX_EXAMPLES),
            "--seed", seed, "--request-timeout", "30", "--generation-database", "none",
            "--report", "json,junit", "--report-dir", str(reports),
            "--report-json-path", str(reports / "run.json"),
            "--report-junit-path", str(reports / "junit.xml")]
    started = time.monotonic()
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - started
    (tmp_path / "schemathesis.out").write_text(done.stdout + done.stderr)
    explain = (f"VF_FUZZ_SEED={seed}\n{done.stdout[-12000:]}\n{done.stderr[-2000:]}\n"
               f"--- api.log\n{live_api.log.read_text(errors='replace')[-3000:]}")
    assert (reports / "run.json").is_file(), explain
    summary = summarise(json.loads((reports / "run.json").read_text()), seconds)
    (tmp_path / "summary.json").write_text(json.dumps(summary, indent=2))
    with capsys.disabled():  # shown without -s: the numbers are this test's result
        print(f"\nschemathesis {summary['schemathesis_version']} (seed {seed}): "
              f"{summary['operations_tested']}/{summary['operations_total']} operations, "
              f"{summary['test_cases']} test cases, {summary['unique_failures']} failures, "
              f"{len(summary['errors'])} errors in {summary['wall_seconds']} s; "
              f"report in {reports}")

    assert summary["failures"] == [] and summary["unique_failures"] == 0, explain
    assert summary["errors"] == [], explain
    assert done.returncode == 0, explain
    assert summary["operations_total"] == summary["operations_tested"] == operations, summary
    # Examples: the document has none. Every other phase ran to the end.
    assert {name: status for name, status in summary["phases"].items()
            if name != "examples"} == {"coverage": "success", "fuzzing": "success",
                                       "stateful": "success"}, summary
