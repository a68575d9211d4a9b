"""An idea becomes a finished video through the API, Redis, Postgres and two worker pools."""

from __future__ import annotations

import json
import subprocess

import psycopg
import pytest
import requests
from sqlalchemy.engine import make_url

from bench.fleet import VIDEOFACTORY
from tests.e2e.conftest import Fleet
from tests.support.ideas import idea_source
from tests.support.media import (
    band_difference,
    frame_at,
    mean_volume_db,
    tiktok_violations,
)

pytestmark = pytest.mark.slow
IDEA = 'Why "cold brew" tastes smoother than hot coffee ☕ — café, naïve, مرحبا'


def _progress_row(database_url: str, job_id: str) -> tuple[str, int]:
    url = make_url(database_url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username,
                         password=url.password, dbname=url.database) as connection:
        row = connection.execute("SELECT stage, percent FROM generation_progress WHERE id = %s",
                                 (job_id,)).fetchone()
    assert row is not None
    return row[0], row[1]


def test_idea_to_video_through_the_fleet(fleet: Fleet, tmp_path) -> None:
    """A submitted idea is scripted, voiced, captioned, rendered and published by real workers."""
    submitted = requests.post(f"{fleet.base_url}/v1/jobs", headers=fleet.headers(), timeout=10,
                              json={"source": idea_source(IDEA), "preset": "tiktok"})
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    assert job["status"] == "queued"
    assert submitted.headers["Location"].endswith(f"/v1/jobs/{job['id']}")

    # The project is generating: a second submit for it is refused.
    again = requests.post(f"{fleet.base_url}/v1/jobs", headers=fleet.headers(), timeout=10,
                          json={"source": {"type": "idea", "idea": "another take"},
                                "project_id": job["project_id"]})
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "project_busy"

    # An operator follows the job from a shell while the fleet works on it.
    watcher = subprocess.Popen([VIDEOFACTORY, "watch", job["id"], "--interval", "0.3"],
                               env=fleet.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)

    done = fleet.wait_for(job["id"], {"succeeded", "failed"})
    assert done["status"] == "succeeded", json.dumps(done, indent=1) + fleet.tail_logs()
    watched, _ = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, watched
    watched_lines = watched.strip().splitlines()
    assert [line.split()[0] for line in watched_lines[:-1]] == list(done["stages"])
    assert all(" on gpu-e2e@" in line for line in watched_lines[1:3]), watched
    assert watched_lines[-1].startswith("succeeded: ") and watched_lines[-1].endswith(".mp4")
    assert done["progress"] == 100
    for stage, info in done["stages"].items():
        assert info["status"] == "succeeded"
        pool = "gpu" if stage in ("voice", "captions") else "cpu"
        assert info["queue"] == pool
        assert info["worker"].startswith(f"{pool}-e2e@"), (stage, info)
        assert info["started_at"] <= info["finished_at"]
    assert _progress_row(fleet.database_url, job["id"]) == ("publish", 100)

    # The lock is gone with the job: the project takes a new generation again.
    response = requests.get(f"{fleet.base_url}{done['video_url']}", headers=fleet.headers(),
                            timeout=60)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "video/mp4"
    video = tmp_path / "video.mp4"
    video.write_bytes(response.content)
    partial = requests.get(f"{fleet.base_url}{done['video_url']}", timeout=10,
                           headers={**fleet.headers(), "Range": "bytes=0-1023"})
    assert partial.status_code == 206
    assert partial.content == response.content[:1024]

    assert tiktok_violations(video) == []
    assert mean_volume_db(video) > -35.0
    _assert_captions_burned_in(fleet, job["id"], video)
    exported = fleet.export_dir / f"{job['id']}.mp4"
    assert exported.read_bytes() == response.content
    sidecar = json.loads((fleet.export_dir / f"{job['id']}.json").read_text())
    spoken = [w["text"] for g in sidecar["captions"] for w in g["words"]]
    assert " ".join(spoken) == " ".join(sidecar["narration"].split())


def _assert_captions_burned_in(fleet: Fleet, job_id: str, video) -> None:
    """Where the caption text changes inside one scene, the caption band changes far more."""
    groups = json.loads((fleet.media_root / job_id / "captions" / "captions.json").read_text())
    scenes = json.loads((fleet.media_root / job_id / "voice" / "voiceover.json").read_text())
    scene = scenes["scenes"][2]
    inside = [g for g in groups if g["start"] > scene["start"] + 0.4 and g["end"] < scene["end"]]
    assert len(inside) >= 2
    second = inside[1]
    # Two frames either side of the change: the picture itself has barely moved between them.
    a = frame_at(video, second["start"] - 0.05, 1080, 1920)
    b = frame_at(video, second["start"] + 0.05, 1080, 1920)
    caption_band = band_difference(a, b, 0.60, 0.76)  # different words
    below = band_difference(a, b, 0.85, 1.0)  # only three frames of slow Ken Burns motion
    assert caption_band > 3.0 and caption_band > 3 * below, (caption_band, below)


def test_failed_lookup_and_auth_over_http(fleet: Fleet) -> None:
    """Over real HTTP, a missing key is 401 and an unknown job is a JSON 404."""
    assert requests.get(f"{fleet.base_url}/v1/jobs/job_x", timeout=10).status_code == 401
    missing = requests.get(f"{fleet.base_url}/v1/jobs/job_x", headers=fleet.headers(), timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "job_not_found"
    health = requests.get(f"{fleet.base_url}/v1/health", timeout=10).json()
    assert health["database"]["ok"] and health["broker"] == {"ok": True, "mode": "redis"}


def test_a_started_job_publishes_before_the_next_render(fleet: Fleet) -> None:
    """With three jobs queued on one cpu worker, the first publishes before the third renders:
    later stages are served first, so a batch delivers videos as it goes, not all at the end."""
    ids = []
    for topic in ("kettles", "lanterns", "bicycles"):
        submitted = requests.post(f"{fleet.base_url}/v1/jobs", headers=fleet.headers(),
                                  timeout=10, json={"source": {"type": "idea",
                                                               "idea": f"Why people love {topic}"},
                                                    "quality": "draft"})
        assert submitted.status_code == 202, submitted.text
        ids.append(submitted.json()["id"])
    done = [fleet.wait_for(job_id, {"succeeded", "failed"}) for job_id in ids]
    assert [body["status"] for body in done] == ["succeeded"] * 3, fleet.tail_logs()
    first, _, last = done
    # In arrival order (FIFO) the first publish would queue behind the other two renders.
    assert first["stages"]["publish"]["finished_at"] <= last["stages"]["render"]["started_at"], (
        first["stages"], last["stages"])
