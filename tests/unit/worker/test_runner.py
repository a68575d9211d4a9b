"""The in-process runner: the stage sequence, failures recorded with stage and reason."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from store import jobs as job_store
from store.db import session_scope
from store.migrate import upgrade
from store.models import Job
from store.services import Services, build_services
from store.settings import Settings
from tests.support.jobs import queued_idea_job
from worker.execution import JobNotRunnable, execute_stage
from worker.runner import run_job


def _services(settings: Settings) -> Services:
    upgrade(settings.database_url)
    return build_services(settings)


@pytest.fixture
def make_job() -> Iterator:
    """Create a queued idea job (holding its project lock) in the given services."""
    made: list[Services] = []

    def make(services: Services, idea: str = "Why cold brew tastes smoother") -> str:
        made.append(services)
        job_id = queued_idea_job(services, idea)
        assert services.locks.acquire(_job(services, job_id).project_id, job_id, 60)
        return job_id

    yield make
    for services in made:
        services.close()


def _job(services: Services, job_id: str) -> Job:
    with session_scope(services.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        _ = job.stages  # load before the session closes
        return job


def test_failed_stage_names_itself_and_frees_the_project(embedded_settings: Settings,
                                                         make_job) -> None:
    """A voice failure fails the job at `voice` with an actionable message; later stages skip."""
    services = _services(replace(embedded_settings, espeak_voice="en-nowhere"))
    job_id = make_job(services)
    updates: list[tuple[str, float]] = []
    assert run_job(services, job_id, worker="t", on_update=lambda s, f: updates.append((s, f))
                   ) is False
    job = _job(services, job_id)
    assert (job.status, job.error_stage, job.error_code) == ("failed", "voice", "unknown_voice")
    assert "ESPEAK_VOICE" in job.error_message
    assert [(s.name, s.status) for s in job.stages] == [
        ("script", "succeeded"), ("voice", "failed"), ("captions", "skipped"),
        ("render", "skipped"), ("publish", "skipped")]
    assert services.locks.holder(job.project_id) is None
    assert ("script", 1.0) in updates


def test_finished_stage_is_not_run_again(embedded_settings: Settings, make_job) -> None:
    """A redelivered stage whose artifacts exist is skipped, keeping its first attempt."""
    services = _services(embedded_settings)
    job_id = make_job(services)
    first = execute_stage(services, "script", job_id, worker="w1")
    script_file = services.media.path(first["script"])
    written = script_file.stat().st_mtime_ns
    again = execute_stage(services, "script", job_id, worker="w2")
    assert again == first
    assert script_file.stat().st_mtime_ns == written
    stage = next(s for s in _job(services, job_id).stages if s.name == "script")
    assert (stage.worker, stage.attempts) == ("w1", 1)


def test_a_failed_job_is_not_resumed(embedded_settings: Settings, make_job) -> None:
    """Once a job failed, a late message for one of its stages does nothing."""
    services = _services(embedded_settings)
    job_id = make_job(services)
    with session_scope(services.sessions) as session:
        job_store.mark_stage_failed(session, job_id, "script", "x", "broken")
    with pytest.raises(JobNotRunnable):
        execute_stage(services, "voice", job_id, worker="w")


def test_configured_piper_voice_speaks_the_job(embedded_settings: Settings, make_job,
                                               tmp_path) -> None:
    """With PIPER_VOICE set, the voice stage speaks through Piper and times every word."""
    import json

    from tests.support.tiny_piper import SAMPLE_RATE, build_tiny_piper_voice

    model = build_tiny_piper_voice(tmp_path / "tiny.onnx")
    services = _services(replace(embedded_settings, piper_voice=str(model)))
    job_id = make_job(services)
    execute_stage(services, "script", job_id, worker="w")
    artifacts = execute_stage(services, "voice", job_id, worker="w")
    voiceover = json.loads(services.media.path(artifacts["voiceover"]).read_text())
    assert voiceover["engine"] == "piper"
    assert voiceover["sample_rate"] == SAMPLE_RATE
    starts = [w["start"] for w in voiceover["words"]]
    assert starts == sorted(starts) and 0 <= starts[0] and starts[-1] < voiceover["duration"]


# whisper's tokenizer leaves its vocabulary file open (upstream); not our leak.
@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")
def test_whisper_timing_keeps_the_script_words(embedded_settings: Settings, make_job,
                                               tmp_path) -> None:
    """captions.timing=whisper re-times the script's words by Whisper (a tiny checkpoint)."""
    import json

    from store.models import Job as JobRow
    from tests.support.tiny_whisper import build_tiny_whisper

    checkpoint = build_tiny_whisper(tmp_path / "tiny.pt")
    services = _services(replace(embedded_settings, whisper_model=str(checkpoint)))
    job_id = make_job(services, "Cold brew tastes smoother")
    with session_scope(services.sessions) as session:
        session.get(JobRow, job_id).options = {"captions": {"timing": "whisper"}}
    for stage in ("script", "voice"):
        execute_stage(services, stage, job_id, worker="w")
    artifacts = execute_stage(services, "captions", job_id, worker="w")
    voiceover = json.loads(services.media.path(artifacts["voiceover"]).read_text())
    groups = json.loads(services.media.path(artifacts["captions_json"]).read_text())
    shown = [w for g in groups for w in g["words"]]
    assert [w["text"] for w in shown] == [w["text"] for w in voiceover["words"]]
    starts = [w["start"] for w in shown]
    assert starts == sorted(starts)
    assert 0.0 <= starts[0] and shown[-1]["end"] <= voiceover["duration"] + 1e-6


def test_a_retried_job_resumes_at_its_failed_stage(embedded_settings: Settings,
                                                   make_job) -> None:
    """A job that failed in voice, reopened, finishes from voice on: the script is not redone."""
    broken = _services(replace(embedded_settings, espeak_voice="en-nowhere"))
    job_id = make_job(broken)
    assert run_job(broken, job_id, worker="first") is False
    script_file = broken.media.path(_job(broken, job_id).artifacts["script"])
    written = script_file.stat().st_mtime_ns
    fixed = _services(embedded_settings)
    try:
        with session_scope(fixed.sessions) as session:
            assert job_store.reopen_job(session, job_id) == "voice"
        reopened = _job(fixed, job_id)
        assert (reopened.status, reopened.error_stage, reopened.finished_at) == ("queued", None,
                                                                                 None)
        assert [(s.name, s.status, s.attempts) for s in reopened.stages] == [
            ("script", "succeeded", 1), ("voice", "pending", 0), ("captions", "pending", 0),
            ("render", "pending", 0), ("publish", "pending", 0)]
        assert run_job(fixed, job_id, worker="second") is True
        job = _job(fixed, job_id)
        assert job.status == "succeeded"
        assert [(s.name, s.worker, s.attempts) for s in job.stages] == [
            ("script", "first", 1), ("voice", "second", 1), ("captions", "second", 1),
            ("render", "second", 1), ("publish", "second", 1)]
        assert script_file.stat().st_mtime_ns == written
        assert fixed.media.path(job.artifacts["video"]).stat().st_size > 10_000
    finally:
        fixed.close()


def test_only_a_failed_job_can_be_reopened(embedded_settings: Settings, make_job) -> None:
    """Reopening a queued job is refused: it would reset a job that may be running."""
    services = _services(embedded_settings)
    job_id = make_job(services)
    with session_scope(services.sessions) as session, pytest.raises(ValueError, match="queued"):
        job_store.reopen_job(session, job_id)
