"""`videofactory status` without services: the terminal format, kombu's keys, embedded mode."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.fleet import free_port
from store.settings import ENV_VARS
from videofactory.cli import cli
from videofactory.status import RunningJob, StalledJob, StatusReport, format_status, queue_keys

pytestmark = pytest.mark.usefixtures("restore_logging")


def _report(**changes: object) -> StatusReport:
    values: dict[str, object] = dict(
        taken_at=datetime(2026, 11, 24, 5, 30, tzinfo=UTC), mode="distributed",
        queues={"cpu": 4, "gpu": 0}, unacked=2,
        workers={"cpu": ["cpu-a@host", "cpu-b@host"], "gpu": ["gpu@host"]},
        jobs={"queued": 4, "running": 2, "succeeded_24h": 31, "failed_24h": 1},
        running=[RunningJob("job_a", "render", "cpu-a@host", 42, 192.5),
                 RunningJob("job_b", "voice", "gpu@host", 7, 3.0)],
        stalled=[StalledJob("job_a", "render", "cpu-a@host", "worker_lost",
                            "no heartbeat for 45 s", "redispatch")],
        problems=[])
    values.update(changes)
    return StatusReport(**values)  # type: ignore[arg-type]


def test_format_status_shows_every_part() -> None:
    """Queues, workers per pool, job counts, running and stalled jobs each get their line."""
    lines = format_status(_report()).splitlines()
    assert lines[0] == "queues    cpu 4   gpu 0   (unacked 2)"
    assert lines[1] == "workers   cpu 2 (cpu-a@host, cpu-b@host)   gpu 1 (gpu@host)"
    assert lines[2].startswith("jobs      queued 4   running 2   succeeded 31   failed 1")
    assert lines[3:6] == ["running   2",
                          "  job_a  render     42%  cpu-a@host  3m12s",
                          "  job_b  voice       7%  gpu@host  3s"]
    assert lines[6:] == ["stalled   1",
                         "  job_a  render    cpu-a@host  worker_lost: no heartbeat for 45 s "
                         "(reconciler: redispatch)"]


def test_format_status_counts_jobs_awaiting_review() -> None:
    """Jobs waiting for a person's approval get a line of their own, right after the counts."""
    report = _report(jobs={"queued": 0, "running": 0, "awaiting_review": 3, "succeeded_24h": 0,
                           "failed_24h": 0})
    assert format_status(report).splitlines()[3] == (
        "review    3 job(s) awaiting approval of their script")
    assert "review " not in format_status(_report())


def test_format_status_names_what_could_not_be_reached() -> None:
    """A part that was unreachable is left out and its problem printed instead."""
    report = _report(queues=None, unacked=None, workers=None, running=[], stalled=[],
                     problems=["broker: ConnectionError: refused"])
    text = format_status(report)
    assert "queues" not in text and "workers" not in text
    assert text.splitlines()[-1] == "problem   broker: ConnectionError: refused"


def test_queue_keys_follow_kombus_priority_lists() -> None:
    """A queue lives in one Redis list per priority step, named as kombu's redis transport does."""
    assert queue_keys("cpu", {}) == ["cpu", "cpu\x06\x163", "cpu\x06\x166", "cpu\x06\x169"]
    assert queue_keys("gpu", {"global_keyprefix": "x:", "priority_steps": [0, 5]}) == [
        "x:gpu", "x:gpu\x06\x165"]


def test_status_command_in_embedded_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    """Without REDIS_URL the command reads the SQLite jobs and says there is no broker."""
    for var in ENV_VARS:
        monkeypatch.delenv(var.name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(cli, ["status", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["mode"] == "embedded" and report["problems"] == []
    assert report["queues"] is None and report["workers"] is None
    assert report["jobs"] == {"queued": 0, "running": 0, "awaiting_review": 0,
                              "succeeded_24h": 0, "failed_24h": 0, "canceled_24h": 0}


def test_status_command_names_an_unreachable_broker(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """With Redis down the database part still shows, the broker is named and the exit is 1."""
    for var in ENV_VARS:
        monkeypatch.delenv(var.name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
    result = runner.invoke(cli, ["status"])
    assert result.exit_code == 1
    assert "jobs      queued 0   running 0" in result.stdout
    assert "problem   broker: ConnectionError" in result.stdout
    assert "queues" not in result.stdout
