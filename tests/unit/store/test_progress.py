"""Progress: live values for polling, throttled durable writes, and no failure from outages."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from pipeline.sequence import overall_percent
from store import jobs as job_store
from store.db import DatabaseUnavailable, make_engine, make_session_factory, session_scope
from store.migrate import upgrade
from store.models import GenerationProgress
from store.progress import (
    LIVE_TTL_SECONDS,
    MemoryLiveProgress,
    ProgressReporter,
    RedisLiveProgress,
)
from store.services import redis_client

Write = tuple[str, str, int, str | None]


class RecordingWriter:
    """A durable writer that records calls and fails while `failures` is above zero."""

    def __init__(self, failures: int = 0) -> None:
        self.writes: list[Write] = []
        self.attempts = 0
        self.failures = failures

    def __call__(self, job_id: str, stage: str, percent: int, message: str | None) -> None:
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            raise DatabaseUnavailable("connection refused")
        self.writes.append((job_id, stage, percent, message))


class BrokenLive:
    """Live progress whose backend is down."""

    def set(self, job_id: str, values: dict[str, str]) -> None:
        raise ConnectionError("redis is down")

    def get(self, job_id: str) -> dict[str, str] | None:
        raise ConnectionError("redis is down")


# --- live progress ------------------------------------------------------------------------

def test_memory_live_progress_merges_and_copies() -> None:
    """Memory live progress merges updates per job and hands out copies."""
    live = MemoryLiveProgress()
    assert live.get("job-1") is None
    live.set("job-1", {"stage": "voice", "percent": "10"})
    live.set("job-1", {"percent": "20"})
    values = live.get("job-1")
    assert values == {"stage": "voice", "percent": "20"}
    values["percent"] = "99"
    assert live.get("job-1") == {"stage": "voice", "percent": "20"}
    assert live.get("job-2") is None


@pytest.fixture
def redis_live(redis_url: str) -> Iterator[RedisLiveProgress]:
    """Redis live progress under a unique prefix, its keys deleted afterwards."""
    client = redis_client(redis_url)
    prefix = f"vftest-{secrets.token_hex(4)}"
    yield RedisLiveProgress(client, prefix)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def test_redis_live_progress_round_trip(redis_live: RedisLiveProgress) -> None:
    """Values written to Redis come back as str, merged, and expire after a week."""
    assert redis_live.get("job-1") is None
    redis_live.set("job-1", {"stage": "render", "percent": "40", "message": "Ünïcode ✓"})
    redis_live.set("job-1", {"percent": "41"})
    assert redis_live.get("job-1") == {"stage": "render", "percent": "41",
                                       "message": "Ünïcode ✓"}
    key = f"{redis_live.prefix}:progress:job-1"
    assert LIVE_TTL_SECONDS - 10 < redis_live.redis.ttl(key) <= LIVE_TTL_SECONDS
    assert redis_live.get("job-2") is None


def test_reporter_writes_live_values(redis_live: RedisLiveProgress) -> None:
    """Each report sets stage, overall percent, stage percent and a timestamp in live progress."""
    reporter = ProgressReporter("job-1", redis_live, RecordingWriter())
    before = time.time()
    reporter.report("render", 0.5)
    values = redis_live.get("job-1")
    assert values is not None
    assert values["stage"] == "render"
    assert values["percent"] == str(overall_percent("render", 0.5))
    assert values["stage_percent"] == "50"
    assert before - 1 <= float(values["updated_at"]) <= time.time() + 1


# --- ProgressReporter -----------------------------------------------------------------------

def test_first_report_is_written_durably_at_once() -> None:
    """The first update of a reporter goes to the database without waiting."""
    writer = RecordingWriter()
    reporter = ProgressReporter("job-1", MemoryLiveProgress(), writer, min_interval=60)
    reporter.report("script", 0.0, "starting")
    assert writer.writes == [("job-1", "script", 0, "starting")]


def test_durable_writes_are_throttled() -> None:
    """Updates inside min_interval wait; flush writes only the latest of them."""
    writer = RecordingWriter()
    live = MemoryLiveProgress()
    reporter = ProgressReporter("job-1", live, writer, min_interval=60)
    reporter.report("render", 0.0)
    reporter.report("render", 0.2)
    reporter.report("render", 0.4)
    assert len(writer.writes) == 1
    assert live.get("job-1")["percent"] == str(overall_percent("render", 0.4))
    assert reporter.flush() is True
    assert writer.writes[-1] == ("job-1", "render", overall_percent("render", 0.4), None)
    assert len(writer.writes) == 2
    assert reporter.flush() is True  # nothing pending: no extra write
    assert len(writer.writes) == 2


def test_durable_write_happens_again_after_the_interval() -> None:
    """Once min_interval has passed, the next update is written without a flush."""
    writer = RecordingWriter()
    reporter = ProgressReporter("job-1", MemoryLiveProgress(), writer, min_interval=0.05)
    reporter.report("voice", 0.1)
    reporter.report("voice", 0.2)
    assert len(writer.writes) == 1
    time.sleep(0.06)
    reporter.report("voice", 0.3)
    assert [w[2] for w in writer.writes] == [overall_percent("voice", 0.1),
                                             overall_percent("voice", 0.3)]


def test_reaching_100_is_written_at_once() -> None:
    """The final 100 % is written durably even inside the throttle interval."""
    writer = RecordingWriter()
    reporter = ProgressReporter("job-1", MemoryLiveProgress(), writer, min_interval=60)
    reporter.report("publish", 0.0)
    reporter.report("publish", 1.0)
    assert writer.writes[-1] == ("job-1", "publish", 100, None)


def test_unchanged_percent_is_not_rewritten() -> None:
    """Reports that do not move the overall percent leave nothing pending to write."""
    writer = RecordingWriter()
    reporter = ProgressReporter("job-1", MemoryLiveProgress(), writer, min_interval=0)
    reporter.report("render", 0.5)
    reporter.report("render", 0.5)
    reporter.report("render", 0.5001)
    assert len(writer.writes) == 1
    reporter.report("render", 0.5, "still encoding")
    assert writer.writes[-1][3] == "still encoding"


def test_failing_durable_writer_does_not_raise_and_catches_up() -> None:
    """While the database is down reports keep going; the latest value is written afterwards."""
    writer = RecordingWriter(failures=3)
    live = MemoryLiveProgress()
    reporter = ProgressReporter("job-1", live, writer, min_interval=60)
    reporter.report("render", 0.1)  # attempt 1 fails
    reporter.report("render", 0.6)  # attempt 2 fails (still overdue)
    assert writer.writes == []
    assert live.get("job-1")["percent"] == str(overall_percent("render", 0.6))
    assert reporter.flush() is False  # attempt 3 fails: still pending
    assert writer.writes == []
    assert reporter.flush() is True  # the database is back
    assert writer.writes == [("job-1", "render", overall_percent("render", 0.6), None)]
    assert writer.attempts == 4


def test_failed_write_is_retried_on_the_next_report() -> None:
    """After a failed durable write the next report retries at once, without a flush."""
    writer = RecordingWriter(failures=1)
    reporter = ProgressReporter("job-1", MemoryLiveProgress(), writer, min_interval=60)
    reporter.report("voice", 0.0)
    reporter.report("voice", 0.5)
    assert writer.writes == [("job-1", "voice", overall_percent("voice", 0.5), None)]


def test_broken_live_progress_does_not_stop_durable_writes() -> None:
    """A live progress outage is logged, not raised, and the durable value is still written."""
    writer = RecordingWriter()
    reporter = ProgressReporter("job-1", BrokenLive(), writer)
    reporter.report("script", 1.0)
    assert writer.writes == [("job-1", "script", overall_percent("script", 1.0), None)]


def test_on_update_sees_every_report() -> None:
    """The on_update callback is called with the stage and raw fraction of each report."""
    seen: list[tuple[str, float]] = []
    reporter = ProgressReporter("job-1", MemoryLiveProgress(), RecordingWriter(),
                                on_update=lambda stage, f: seen.append((stage, f)))
    reporter.report("captions", 0.25)
    reporter.report("captions", 0.75)
    assert seen == [("captions", 0.25), ("captions", 0.75)]


def test_fractions_out_of_range_are_clamped() -> None:
    """A fraction below 0 or above 1 never yields a percent outside 0–100."""
    live = MemoryLiveProgress()
    reporter = ProgressReporter("job-1", live, RecordingWriter())
    reporter.report("render", 1.7)
    assert live.get("job-1")["stage_percent"] == "100"
    reporter.report("render", -0.3)
    assert live.get("job-1")["stage_percent"] == "0"
    assert 0 <= int(live.get("job-1")["percent"]) <= 100


def test_catch_up_lands_in_generation_progress(tmp_path: Path) -> None:
    """Progress reported during a database outage reaches generation_progress once it is back."""
    url = f"sqlite:///{tmp_path / 'progress.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    down = {"value": True}

    def durable(job_id: str, stage: str, percent: int, message: str | None) -> None:
        if down["value"]:
            raise OperationalError("INSERT", {}, ConnectionRefusedError("database is down"))
        with session_scope(sessions) as session:
            job_store.write_progress(session, job_id, stage, percent, message)

    try:
        reporter = ProgressReporter("job-x", MemoryLiveProgress(), durable, min_interval=60)
        reporter.report("render", 0.3)
        reporter.report("render", 0.8, "encoding")
        with sessions() as session:
            assert session.get(GenerationProgress, "job-x") is None
        down["value"] = False
        assert reporter.flush() is True
        with sessions() as session:
            row = session.get(GenerationProgress, "job-x")
            assert (row.stage, row.percent, row.message) == (
                "render", overall_percent("render", 0.8), "encoding")
    finally:
        engine.dispose()
