"""Cancel through the API with real workers: a queued job never runs, a running render's
ffmpeg processes are gone within 5 s, nothing is published, and a retry finishes the job."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
import requests
from sqlalchemy.engine import make_url

from tests.e2e.conftest import Fleet
from tests.support.ideas import idea_source

pytestmark = pytest.mark.slow
IDEA = ("Three ways to keep basil alive on a windowsill: light, water from below, and "
        "pinching the tops so it grows bushy instead of tall.")


def _ffmpeg_pids_of(job_id: str) -> list[int]:
    """ffmpeg processes working in one of the job's scratch folders."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "ffmpeg":
                continue
            if job_id in str((proc / "cwd").resolve()):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def _start_time(pid: int) -> str | None:
    """A process's start time (field 22 of its stat), None once it is gone: a pid the
    system hands to a new process reads differently."""
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _submit(fleet: Fleet, idea: str) -> str:
    response = requests.post(f"{fleet.base_url}/v1/jobs", headers=fleet.headers(), timeout=10,
                             json={"source": idea_source(idea), "preset": "tiktok"})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _job(fleet: Fleet, job_id: str) -> dict:
    return requests.get(f"{fleet.base_url}/v1/jobs/{job_id}", headers=fleet.headers(),
                        timeout=10).json()


def _publications(fleet: Fleet, job_id: str) -> int:
    url = make_url(fleet.database_url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username,
                         password=url.password, dbname=url.database) as connection:
        return connection.execute("SELECT count(*) FROM publications WHERE job_id = %s",
                                  (job_id,)).fetchone()[0]


def _wait(what: str, check, fleet: Fleet, timeout: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout:.0f} s\n{fleet.tail_logs()}")


def test_cancel_stops_a_running_render_and_a_queued_job(fleet: Fleet) -> None:
    """The render's ffmpeg pids vanish within 5 s, the queued job never runs, nothing is
    published, the lock is free again and a retry finishes from the canceled stage."""
    running = _submit(fleet, IDEA)
    pids = _wait("the render's ffmpeg runs", lambda: _ffmpeg_pids_of(running), fleet, 300)
    started = {pid: _start_time(pid) for pid in pids}
    queued = _submit(fleet, "Why cast iron pans get better the more you cook with them.")
    assert _job(fleet, queued)["status"] == "queued"  # the only cpu worker is rendering

    response = requests.delete(f"{fleet.base_url}/v1/jobs/{queued}", headers=fleet.headers(),
                               timeout=10)
    assert response.status_code == 202 and response.json()["status"] == "canceled"
    canceled_at = time.monotonic()
    response = requests.delete(f"{fleet.base_url}/v1/jobs/{running}", headers=fleet.headers(),
                               timeout=10)
    assert response.status_code == 202, response.text
    assert response.json()["stages"]["render"]["status"] == "canceled"
    # Ended and reaped: a killed process stays in /proc, without a working folder, until
    # its parent waits for it, so the first check alone passes on zombies.
    _wait("the render's ffmpeg processes end", lambda: not _ffmpeg_pids_of(running) and not any(
        start is not None and _start_time(pid) == start for pid, start in started.items()),
        fleet, 10)
    stopped_after = time.monotonic() - canceled_at
    print(f"\ncancel: the render's ffmpeg ({len(pids)} pids) ended {stopped_after:.1f} s after "
          "DELETE")
    assert stopped_after < 5

    time.sleep(3)  # the worker is free again: it takes and drops the queued job's message
    for job_id in (running, queued):
        job = _job(fleet, job_id)
        assert job["status"] == "canceled"
        assert job["stages"]["publish"]["status"] == "skipped"
        assert _publications(fleet, job_id) == 0
        assert not (fleet.export_dir / f"{job_id}.mp4").exists()
    assert all(stage["attempts"] == 0 for stage in _job(fleet, queued)["stages"].values())
    again = requests.delete(f"{fleet.base_url}/v1/jobs/{running}", headers=fleet.headers(),
                            timeout=10)
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_finished"

    # The project lock was released, so the retry may take it; it runs from the render.
    retried = requests.post(f"{fleet.base_url}/v1/jobs/{running}/retry",
                            headers=fleet.headers(), timeout=10)
    assert retried.status_code == 202, retried.text
    assert retried.json()["from_stage"] == "render"
    done = fleet.wait_for(running, {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    assert done["stages"]["script"]["attempts"] == 1
    assert _publications(fleet, running) == 1
