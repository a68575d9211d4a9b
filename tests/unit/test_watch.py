"""`videofactory watch`: a job followed from the database until it ends, with exit codes."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from click.testing import CliRunner
from rich.console import Console

from pipeline.sequence import STAGE_NAMES
from store import jobs as job_store
from store.db import session_scope
from store.services import Services
from store.settings import Settings
from tests.support.jobs import migrated_services, queued_idea_job
from videofactory.cli import cli
from videofactory.watch import (
    CANCELED,
    FAILED,
    NOT_FOUND,
    STILL_RUNNING,
    SUCCEEDED,
    look,
    watch_job,
)
from worker.runner import run_job

pytestmark = pytest.mark.usefixtures("restore_logging")  # `watch` on the CLI sets up logging


@pytest.fixture
def services(embedded_settings: Settings) -> Iterator[Services]:
    with migrated_services(embedded_settings) as built:
        yield built


def _watch(services: Services, job_id: str, **kwargs: float) -> tuple[int, str]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    code = watch_job(services, job_id, interval=0.02, console=console, **kwargs)
    return code, out.getvalue()


def _drive(services: Services, job_id: str, pause: float) -> None:
    """Run the stages' bookkeeping (no media) as a worker would, one stage after another."""
    for stage in STAGE_NAMES:
        time.sleep(pause)
        with session_scope(services.sessions) as session:
            job_store.mark_stage_running(session, job_id, stage, f"{stage}-worker@host")
            job_store.write_progress(session, job_id, stage, 50, None)
        time.sleep(pause)
        with session_scope(services.sessions) as session:
            artifacts = {"video": f"{job_id}/render/video.mp4"} if stage == "render" else {}
            job_store.mark_stage_succeeded(session, job_id, stage, artifacts)


def test_watch_follows_every_stage_to_the_video(services: Services) -> None:
    """Started before the job runs, watch prints each stage once, in order, then the video."""
    job_id = queued_idea_job(services)
    driver = threading.Thread(target=_drive, args=(services, job_id, 0.1))
    driver.start()
    code, output = _watch(services, job_id, timeout=60)
    driver.join()
    assert code == SUCCEEDED, output
    lines = output.strip().splitlines()
    assert [line.split()[0] for line in lines[:-1]] == list(STAGE_NAMES)
    for line, stage in zip(lines, STAGE_NAMES, strict=False):
        assert f"{stage}  done in " in line and line.endswith(f"on {stage}-worker@host")
    assert lines[-1] == (f"succeeded: {services.media.describe(f'{job_id}/render/video.mp4')}")


def test_watch_reports_the_failed_stage_and_reason(embedded_settings: Settings) -> None:
    """A job that really failed (unknown espeak voice) exits 1 naming the stage and the fix."""
    with migrated_services(replace(embedded_settings, espeak_voice="en-nowhere")) as broken:
        job_id = queued_idea_job(broken)
        assert run_job(broken, job_id, worker="local") is False
        code, output = _watch(broken, job_id)
    assert code == FAILED
    assert "script  done in" in output
    assert "failed in the voice stage (unknown_voice):" in output
    assert "ESPEAK_VOICE" in output


def test_watch_prints_messages_verbatim(services: Services) -> None:
    """Brackets in a failure (ffmpeg's "[mjpeg @ 0x…]") are printed, not taken as markup."""
    job_id = queued_idea_job(services)
    message = "[mjpeg @ 0x55d2] unable to decode [bold]APP fields"
    with session_scope(services.sessions) as session:
        job_store.mark_stage_running(session, job_id, "script", "w")
        job_store.mark_stage_failed(session, job_id, "script", "bad_image", message)
    code, output = _watch(services, job_id)
    assert code == FAILED
    assert output.strip().endswith(f"failed in the script stage (bad_image): {message}")


def test_watch_gives_up_at_its_timeout(services: Services) -> None:
    """A job nobody runs is still queued when the timeout ends the watch (exit 3)."""
    job_id = queued_idea_job(services)
    code, output = _watch(services, job_id, timeout=0.2)
    assert code == STILL_RUNNING
    assert output.strip() == "still queued (waiting, 0%) after 0.2 s"


def test_look_prefers_live_progress_to_the_durable_row(services: Services) -> None:
    """Live progress (Redis, or memory here) wins; without it the throttled row is used."""
    job_id = queued_idea_job(services)
    with session_scope(services.sessions) as session:
        job_store.mark_stage_running(session, job_id, "render", "w")
        job_store.write_progress(session, job_id, "render", 40, None)
    view = look(services, job_id)
    assert view is not None and (view.status, view.stage, view.percent) == ("running", "render",
                                                                            40)
    services.live.set(job_id, {"stage": "render", "percent": "63"})
    view = look(services, job_id)
    assert view is not None and view.percent == 63
    assert look(services, "job_missing") is None


def test_watch_command_exits_2_for_an_unknown_job(tmp_path) -> None:
    """On the command line an unknown id says so and exits 2."""
    env = {"DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": "", "REDIS_URL": ""}
    assert CliRunner().invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    result = CliRunner().invoke(cli, ["watch", "job_nope", "--interval", "0.05"], env=env)
    assert result.exit_code == NOT_FOUND, result.output
    assert "no job job_nope in this database" in result.output


def test_watch_reports_a_cancel_with_its_own_exit_code(services: Services) -> None:
    """A job canceled while watched ends the watch with exit 4 and the stage it stopped in."""
    job_id = queued_idea_job(services)
    with session_scope(services.sessions) as session:
        job_store.mark_stage_running(session, job_id, "script", "cpu@host")
        job_store.mark_stage_succeeded(session, job_id, "script", {})
        job_store.mark_stage_running(session, job_id, "voice", "gpu@host")

    def cancel_soon() -> None:
        time.sleep(0.2)
        with session_scope(services.sessions) as session:
            job_store.cancel_job(session, job_id)

    canceler = threading.Thread(target=cancel_soon)
    canceler.start()
    code, output = _watch(services, job_id, timeout=30)
    canceler.join()
    assert code == CANCELED == 4
    assert "canceled in the voice stage" in output


def test_cancel_command_cancels_and_refuses_twice(embedded_settings: Settings,
                                                  services: Services) -> None:
    """`videofactory cancel JOB` cancels (exit 0), then says the job ended (exit 1); an
    unknown job is exit 2."""
    job_id = queued_idea_job(services)
    env = {"DATA_DIR": str(embedded_settings.data_dir)}
    runner = CliRunner()
    first = runner.invoke(cli, ["cancel", job_id], env=env)
    assert first.exit_code == 0, first.output
    assert f"canceled {job_id}" in first.output
    assert look(services, job_id).status == "canceled"
    again = runner.invoke(cli, ["cancel", job_id], env=env)
    assert again.exit_code == 1 and "already ended (canceled)" in again.output
    missing = runner.invoke(cli, ["cancel", "job_nope"], env=env)
    assert missing.exit_code == 2
