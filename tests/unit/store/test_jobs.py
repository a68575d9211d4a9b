"""Job and stage state transitions, read back from SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete, event
from sqlalchemy.orm import Session, sessionmaker

from pipeline.sequence import STAGE_NAMES
from store import jobs
from store.accounts import create_account
from store.models import Account, GenerationProgress, Job, Project
from worker.routing import ROUTES, STAGE_QUEUES


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory; accounts and progress rows it created are deleted afterwards."""
    created: dict[type, list[str]] = {Account: [], GenerationProgress: []}

    def remember(_session: Session, obj: object) -> None:
        if type(obj) in created:
            created[type(obj)].append(obj.id)  # type: ignore[attr-defined]

    factory = sessionmaker(engine, expire_on_commit=False)
    event.listen(factory, "after_attach", remember)
    yield factory
    with Session(engine) as cleanup:
        cleanup.execute(delete(GenerationProgress)
                        .where(GenerationProgress.id.in_(created[GenerationProgress])))
        cleanup.execute(delete(Account).where(Account.id.in_(created[Account])))
        cleanup.commit()


@pytest.fixture
def job_id(sessions: sessionmaker[Session]) -> str:
    """A committed queued job of a fresh account."""
    with sessions() as session:
        account = create_account(session, "jobs")
        project = jobs.create_project(session, account.profile_id, "Cold brew")
        job = jobs.create_job(session, account_id=account.account_id,
                              profile_id=account.profile_id, project_id=project.id,
                              source={"type": "idea", "idea": "Cold brew"}, preset="tiktok",
                              queues=STAGE_QUEUES,
                              options={"voice": "en-us"})
        session.commit()
        return job.id


def _apply(sessions: sessionmaker[Session], change) -> None:  # type: ignore[no-untyped-def]
    with sessions() as session:
        change(session)
        session.commit()


def _read(sessions: sessionmaker[Session], job_id: str) -> Job:
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.stages  # load before the session closes  # noqa: B018
        return job


def _stage_status(job: Job) -> dict[str, str]:
    return {row.name: row.status for row in job.stages}


def test_new_job_is_queued_with_pending_stages(sessions: sessionmaker[Session],
                                               job_id: str) -> None:
    """A new job is queued, with one pending stage row per stage, in order, on its queue."""
    job = _read(sessions, job_id)
    assert job.status == "queued"
    assert job.current_stage is None
    assert job.artifacts == {}
    assert job.options == {"voice": "en-us"}
    assert job.created_at is not None and job.started_at is None
    assert [(r.name, r.position, r.queue, r.status, r.attempts, r.worker) for r in job.stages] == [
        (route.stage, i, route.queue, "pending", 0, None)
        for i, route in enumerate(ROUTES)
    ]
    with sessions() as session:
        progress = session.get(GenerationProgress, job_id)
        assert (progress.stage, progress.percent, progress.message) == (None, 0, "queued")


def test_project_names_are_bounded(sessions: sessionmaker[Session]) -> None:
    """Project names are cut to 200 characters, and an empty one becomes 'Untitled'."""
    with sessions() as session:
        account = create_account(session, "names")
        long = jobs.create_project(session, account.profile_id, "n" * 500)
        empty = jobs.create_project(session, account.profile_id, "")
        session.commit()
    with sessions() as session:
        assert session.get(Project, long.id).name == "n" * 200
        assert session.get(Project, empty.id).name == "Untitled"


def test_running_a_stage_starts_the_job(sessions: sessionmaker[Session], job_id: str) -> None:
    """mark_stage_running sets the worker, counts the attempt and makes the job running."""
    _apply(sessions, lambda s: jobs.mark_stage_running(s, job_id, "script", "cpu@host-1"))
    job = _read(sessions, job_id)
    assert job.status == "running"
    assert job.current_stage == "script"
    assert job.started_at is not None
    script = job.stages[0]
    assert (script.status, script.worker, script.attempts) == ("running", "cpu@host-1", 1)
    assert script.started_at is not None and script.finished_at is None
    assert _stage_status(job)["voice"] == "pending"


def test_rerun_counts_attempts_and_keeps_job_start(sessions: sessionmaker[Session],
                                                   job_id: str) -> None:
    """A redelivered stage counts a second attempt, clears its error, keeps the job's start."""
    _apply(sessions, lambda s: jobs.mark_stage_running(s, job_id, "script", "cpu@a"))
    first_start = _read(sessions, job_id).started_at

    def fail_row(session: Session) -> None:
        row = session.get(Job, job_id).stages[0]
        row.error_code, row.error_message = "timeout", "too slow"

    _apply(sessions, fail_row)
    _apply(sessions, lambda s: jobs.mark_stage_running(s, job_id, "script", "cpu@b"))
    job = _read(sessions, job_id)
    script = job.stages[0]
    assert (script.attempts, script.worker) == (2, "cpu@b")
    assert (script.error_code, script.error_message) == (None, None)
    assert job.started_at == first_start


def test_succeeded_stage_merges_artifacts(sessions: sessionmaker[Session], job_id: str) -> None:
    """A finished stage adds its artifact keys to the job's and the job keeps running."""
    _apply(sessions, lambda s: jobs.mark_stage_running(s, job_id, "script", "cpu@a"))
    _apply(sessions, lambda s: jobs.mark_stage_succeeded(
        s, job_id, "script", {"script": f"{job_id}/script/script.json"}))
    _apply(sessions, lambda s: jobs.mark_stage_running(s, job_id, "voice", "gpu@a"))
    _apply(sessions, lambda s: jobs.mark_stage_succeeded(
        s, job_id, "voice", {"voice": f"{job_id}/voice/voice.wav",
                             "words": f"{job_id}/voice/words.json"}))
    job = _read(sessions, job_id)
    assert job.artifacts == {"script": f"{job_id}/script/script.json",
                             "voice": f"{job_id}/voice/voice.wav",
                             "words": f"{job_id}/voice/words.json"}
    assert job.status == "running"
    assert job.current_stage == "voice"
    assert job.finished_at is None
    assert _stage_status(job) == {"script": "succeeded", "voice": "succeeded",
                                  "captions": "pending", "render": "pending",
                                  "publish": "pending"}
    assert all(r.finished_at is not None for r in job.stages[:2])


def test_last_stage_succeeds_the_job(sessions: sessionmaker[Session], job_id: str) -> None:
    """After the last stage succeeds the job is succeeded, with no current stage."""
    for stage in STAGE_NAMES:
        _apply(sessions, lambda s, st=stage: jobs.mark_stage_running(s, job_id, st, "w"))
        _apply(sessions, lambda s, st=stage: jobs.mark_stage_succeeded(s, job_id, st,
                                                                       {st: f"{st}-key"}))
    job = _read(sessions, job_id)
    assert job.status == "succeeded"
    assert job.current_stage is None
    assert job.finished_at is not None and job.finished_at >= job.started_at
    assert set(_stage_status(job).values()) == {"succeeded"}
    assert job.artifacts == {st: f"{st}-key" for st in STAGE_NAMES}


def test_failed_stage_fails_the_job_and_skips_the_rest(sessions: sessionmaker[Session],
                                                       job_id: str) -> None:
    """A failed stage records its error, fails the job and skips every later stage."""
    _apply(sessions, lambda s: jobs.mark_stage_running(s, job_id, "script", "cpu@a"))
    _apply(sessions, lambda s: jobs.mark_stage_succeeded(s, job_id, "script", {"script": "k"}))
    _apply(sessions, lambda s: jobs.mark_stage_running(s, job_id, "voice", "gpu@a"))
    _apply(sessions, lambda s: jobs.mark_stage_failed(s, job_id, "voice", "tool_failed",
                                                      "espeak-ng: exit 1"))
    job = _read(sessions, job_id)
    assert job.status == "failed"
    assert (job.current_stage, job.error_stage) == ("voice", "voice")
    assert (job.error_code, job.error_message) == ("tool_failed", "espeak-ng: exit 1")
    assert job.finished_at is not None
    assert _stage_status(job) == {"script": "succeeded", "voice": "failed",
                                  "captions": "skipped", "render": "skipped",
                                  "publish": "skipped"}
    voice = job.stages[1]
    assert (voice.error_code, voice.error_message) == ("tool_failed", "espeak-ng: exit 1")
    assert voice.finished_at is not None
    assert job.artifacts == {"script": "k"}


def test_failing_a_queued_job_at_the_first_stage(sessions: sessionmaker[Session],
                                                 job_id: str) -> None:
    """A job failed before it ran (the broker was down) fails at script, the rest skipped."""
    _apply(sessions, lambda s: jobs.mark_stage_failed(s, job_id, "script", "broker_unavailable",
                                                      "could not be queued"))
    job = _read(sessions, job_id)
    assert job.status == "failed"
    assert job.error_stage == "script"
    assert list(_stage_status(job).values()) == ["failed"] + ["skipped"] * 4


def test_failing_an_unknown_job_returns_none(sessions: sessionmaker[Session]) -> None:
    """mark_stage_failed of a job that does not exist returns None and changes nothing."""
    with sessions() as session:
        assert jobs.mark_stage_failed(session, "job_missing", "script", "x", "y") is None


@pytest.mark.parametrize("mark", ["running", "succeeded"])
def test_unknown_job_or_stage_raises_lookup_error(sessions: sessionmaker[Session],
                                                  job_id: str, mark: str) -> None:
    """Running or finishing a missing job or stage raises LookupError naming it."""
    def call(session: Session, job: str, stage: str) -> None:
        if mark == "running":
            jobs.mark_stage_running(session, job, stage, "w")
        else:
            jobs.mark_stage_succeeded(session, job, stage, {})

    with sessions() as session:
        with pytest.raises(LookupError, match="job_missing"):
            call(session, "job_missing", "script")
        with pytest.raises(LookupError, match="upload"):
            call(session, job_id, "upload")


def test_write_progress_upserts(sessions: sessionmaker[Session], job_id: str) -> None:
    """write_progress updates the job's generation_progress row, or creates one if missing."""
    _apply(sessions, lambda s: jobs.write_progress(s, job_id, "render", 63, "encoding"))
    _apply(sessions, lambda s: jobs.write_progress(s, "gen-orphan", "voice", 5, None))
    with sessions() as session:
        row = session.get(GenerationProgress, job_id)
        assert (row.stage, row.percent, row.message) == ("render", 63, "encoding")
        orphan = session.get(GenerationProgress, "gen-orphan")
        assert (orphan.stage, orphan.percent) == ("voice", 5)
        session.delete(orphan)
        session.commit()


def test_active_job_for_project(sessions: sessionmaker[Session], job_id: str) -> None:
    """A project's queued or running job is found; once it finishes there is none."""
    project_id = _read(sessions, job_id).project_id
    with sessions() as session:
        assert jobs.active_job_for_project(session, project_id).id == job_id
    _apply(sessions, lambda s: jobs.mark_stage_running(s, job_id, "script", "w"))
    with sessions() as session:
        assert jobs.active_job_for_project(session, project_id).id == job_id
    _apply(sessions, lambda s: jobs.mark_stage_failed(s, job_id, "script", "x", "y"))
    with sessions() as session:
        assert jobs.active_job_for_project(session, project_id) is None
        assert jobs.active_job_for_project(session, "proj_missing") is None
