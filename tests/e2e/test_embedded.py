"""The README's first command: `./vf make` with no services makes a valid video."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from pipeline.tools import probe
from tests.support.media import frame_at, mean_volume_db, tiktok_violations

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_make_runs_every_stage_in_process(tmp_path: Path) -> None:
    """Without DATABASE_URL or REDIS_URL, `./vf make` writes a tiktok MP4 and records the job."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["DATA_DIR"] = str(tmp_path / "data")
    out = tmp_path / "out" / "cold brew.mp4"
    done = subprocess.run(
        [str(REPO / "vf"), "make", "--idea",
         "Why cold brew tastes smoother than hot coffee 😀 «déjà vu» 你好", "-o", str(out)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == str(out.resolve())
    for stage in ("script", "voice", "captions", "render", "publish"):
        assert f"{stage}  done" in done.stderr

    assert tiktok_violations(out) == []
    assert mean_volume_db(out) > -35.0
    # Offline and without points the video is short and honest: the idea, then the end card.
    duration = probe(out).duration
    assert duration < 16  # the narration is short: the preset's 15 s minimum
    first, later = frame_at(out, 1.0, 1080, 1920), frame_at(out, duration - 0.5, 1080, 1920)
    assert abs(first.astype(int) - later.astype(int)).mean() > 5  # the visuals change

    with sqlite3.connect(tmp_path / "data" / "videofactory.db") as db:
        status, error = db.execute("SELECT status, error_message FROM jobs").fetchone()
        assert (status, error) == ("succeeded", None)
        workers = {row[0] for row in db.execute("SELECT worker FROM job_stages")}
        assert workers == {"local"}
        assert db.execute("SELECT percent FROM generation_progress").fetchone() == (100,)
    exports = list((tmp_path / "data" / "exports").glob("*.mp4"))
    assert len(exports) == 1 and exports[0].read_bytes() == out.read_bytes()

    # The draft preview of the same job comes from the same timeline, at half size.
    with sqlite3.connect(tmp_path / "data" / "videofactory.db") as db:
        (job_id,) = db.execute("SELECT id FROM jobs").fetchone()
    preview = subprocess.run([str(REPO / "vf"), "preview", job_id, "-o", str(tmp_path / "p.mp4")],
                             env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert preview.returncode == 0, preview.stderr[-2000:]
    draft, final = probe(tmp_path / "p.mp4"), probe(out)
    assert (draft.width, draft.height) == (540, 960)
    assert abs(draft.duration - final.duration) < 0.1


def test_make_explains_a_bad_setting(tmp_path: Path) -> None:
    """A malformed setting fails with one line naming the variable, not a traceback."""
    env = {**os.environ, "DATA_DIR": str(tmp_path), "SPEECH_RATE": "fast"}
    done = subprocess.run([str(REPO / "vf"), "make", "--idea", "x"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "SPEECH_RATE" in done.stderr and "Traceback" not in done.stderr
