"""`videofactory make --review`: the script is shown after its stage, then approved, edited in
$EDITOR or refused, through the same store functions as the API."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from videofactory.cli import cli

pytestmark = pytest.mark.usefixtures("restore_logging")

IDEA = "Why cold brew tastes smoother"
EDITED = "Zebras quietly paint lighthouses"


def _make(tmp_path: Path, answers: str) -> Result:
    return CliRunner().invoke(cli, ["make", "--idea", IDEA, "--review", "-o",
                                    str(tmp_path / "out.mp4")],
                              input=answers, prog_name="videofactory")


def _job(data_dir: Path) -> dict[str, Any]:
    with sqlite3.connect(data_dir / "videofactory.db") as db:
        db.row_factory = sqlite3.Row
        job = dict(db.execute("SELECT id, status, options, artifacts FROM jobs").fetchone())
        job["stages"] = dict(db.execute("SELECT name, status FROM job_stages "
                                        "WHERE job_id = ?", (job["id"],)).fetchall())
    return {**job, "options": json.loads(job["options"]),
            "artifacts": json.loads(job["artifacts"])}


def _media(data_dir: Path, key: str) -> Any:
    return json.loads((data_dir / "media" / key).read_text())


def test_yes_approves_and_makes_the_video(data_dir: Path, tmp_path: Path) -> None:
    """The script is printed with numbered scenes and a question; y goes on to the video."""
    result = _make(tmp_path, "y\n")
    assert result.exit_code == 0, result.output
    assert f"Title: {IDEA}" in result.stderr
    assert " 1. " in result.stderr and " 2. " in result.stderr
    assert "Hashtags: #" in result.stderr
    assert "Approve? [y]es / [e]dit / [n]o" in result.stderr
    assert result.stdout.strip().splitlines()[-1] == str((tmp_path / "out.mp4").resolve())
    assert (tmp_path / "out.mp4").stat().st_size > 10_000
    job = _job(data_dir)
    assert job["status"] == "succeeded" and job["options"]["review"] is True


def test_no_cancels_the_job(data_dir: Path, tmp_path: Path) -> None:
    """n cancels the job before its voice and exits non-zero saying so; nothing is written."""
    result = _make(tmp_path, "n\n")
    assert result.exit_code == 1
    assert "canceled" in result.stderr and "not approved" in result.stderr
    assert not (tmp_path / "out.mp4").exists()
    job = _job(data_dir)
    assert job["status"] == "canceled"
    assert job["stages"]["script"] == "succeeded" and job["stages"]["voice"] == "canceled"


def test_edit_then_yes_speaks_the_edit(data_dir: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """e opens the script as JSON; an invalid edit is refused naming the field and reopened
    as left, a valid one is stored as a new object and spoken once approved."""
    opened: list[dict[str, Any]] = []

    def editor(text: str, extension: str = "") -> str:
        opened.append(json.loads(text))
        script = json.loads(text)
        if len(opened) == 1:  # first try: a blank scene
            script["scenes"][1]["narration"] = " "
        else:
            script["scenes"][0]["narration"] = f"{EDITED}."
            script["scenes"][1]["narration"] = "Follow for more."
        return json.dumps(script)

    monkeypatch.setattr("videofactory.script_review.click.edit", editor)
    result = _make(tmp_path, "e\ne\ny\n")
    assert result.exit_code == 0, result.output
    assert "not saved: scenes.1.narration: must not be blank" in result.stderr
    assert opened[1]["scenes"][1]["narration"] == " "  # the draft came back as left
    assert f"    {EDITED}." in result.stderr  # shown again before the next question

    job = _job(data_dir)
    assert job["status"] == "succeeded"
    (edit,) = job["options"]["script_edits"]
    assert edit["via"] == "cli" and edit["script"] == job["artifacts"]["script"]
    assert _media(data_dir, job["artifacts"]["script"])["scenes"][0]["narration"] == f"{EDITED}."
    assert _media(data_dir, f"{job['id']}/script/script.json")["scenes"][0]["narration"] != (
        f"{EDITED}.")  # the original is kept
    spoken = " ".join(w["text"] for w in _media(data_dir, job["artifacts"]["voiceover"])["words"])
    assert EDITED in spoken
