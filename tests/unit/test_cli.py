"""The `videofactory` command line in embedded mode (SQLite under a temporary DATA_DIR)."""

from __future__ import annotations

import errno
import hashlib
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner, Result

from store.migrate import alembic_config
from tests.support.tiny_piper import build_tiny_piper_voice
from videofactory.cli import cli

pytestmark = pytest.mark.usefixtures("restore_logging")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every urlopen raises URLError (no test may reach the internet); the URLs tried are kept."""
    tried: list[str] = []

    def refuse(url: Any, *args: Any, **kwargs: Any) -> Any:
        tried.append(str(url))
        raise urllib.error.URLError("network is unreachable (test)")

    monkeypatch.setattr("pipeline.voice.catalogue.urllib.request.urlopen", refuse)
    assert urllib.request.urlopen is refuse
    return tried


def _run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="videofactory", env=env)


def test_help_lists_every_command_group() -> None:
    """`videofactory --help` exits 0 and names every command and command group."""
    result = _run("--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: videofactory")
    commands = result.stdout.split("Commands:", 1)[1].split()
    for command in ("make", "serve", "worker", "db", "accounts", "voices"):
        assert command in commands


@pytest.mark.parametrize(("group", "subcommands"), [("db", ["upgrade"]),
                                                    ("accounts", ["create"]),
                                                    ("voices", ["list", "install"])])
def test_group_help_lists_its_commands(group: str, subcommands: list[str]) -> None:
    """Each group's --help names its subcommands."""
    result = _run(group, "--help")
    assert result.exit_code == 0, result.output
    listed = result.stdout.split("Commands:", 1)[1].split()
    assert all(name in listed for name in subcommands)


# --- voices ----------------------------------------------------------------------------------

def test_voices_list_filters_by_language(data_dir: Path) -> None:
    """`voices list --language de` prints only German voices, the tiny one as installed."""
    voices_dir = data_dir / "voices"
    voices_dir.mkdir(parents=True)
    build_tiny_piper_voice(voices_dir / "de_DE-tiny-low.onnx")
    result = _run("voices", "list", "--language", "de")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows
    assert all(row[2] == "de" for row in rows)
    by_name = {row[1]: row for row in rows}
    assert by_name["de_DE-tiny-low"] == ["piper", "de_DE-tiny-low", "de", "low", "installed"]
    assert by_name["de_DE-thorsten-medium"][-1] == "downloadable"
    assert "en_US-lessac-medium" not in by_name


def test_voices_list_without_filter_shows_several_languages(data_dir: Path) -> None:
    """`voices list` without --language lists English and German voices."""
    result = _run("voices", "list")
    assert result.exit_code == 0, result.output
    languages = {line.split()[2] for line in result.stdout.splitlines()}
    assert {"en", "de"} <= languages


def test_install_rejects_a_malformed_name_offline(data_dir: Path, offline: list[str]) -> None:
    """`voices install not-a-voice` exits 1 with a one-line error, no traceback, no download."""
    result = _run("voices", "install", "not-a-voice")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "not-a-voice" in lines[0]
    assert "Traceback" not in result.output
    assert offline == []
    assert not (data_dir / "voices").exists() or not any((data_dir / "voices").iterdir())


def test_install_offline_explains_the_manual_install(data_dir: Path,
                                                     offline: list[str]) -> None:
    """A real Piper name with no network exits 1, says how to install by hand, leaves no files."""
    result = _run("voices", "install", "en_US-lessac-medium")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "en_US-lessac-medium" in lines[0]
    assert "Install it by hand" in lines[0]
    assert "Traceback" not in result.output
    assert offline and all("huggingface.co" in url for url in offline)
    assert list((data_dir / "voices").iterdir()) == []


def test_install_of_an_installed_voice_needs_no_network(data_dir: Path,
                                                        offline: list[str]) -> None:
    """Installing a voice already in VOICES_DIR prints its path without downloading."""
    voices_dir = data_dir / "voices"
    voices_dir.mkdir(parents=True)
    model = build_tiny_piper_voice(voices_dir / "de_DE-tiny-low.onnx")
    result = _run("voices", "install", "de_DE-tiny-low")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(model)
    assert offline == []


# --- accounts and database -----------------------------------------------------------------

def test_accounts_create_prints_a_key_and_stores_its_hash(data_dir: Path) -> None:
    """`accounts create` prints only the key on stdout and the database keeps only its SHA-256."""
    result = _run("accounts", "create", "My Shop")
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("vf_")
    assert len(result.stdout.splitlines()) == 1
    assert "default profile" in result.stderr
    database = data_dir / "videofactory.db"
    with sqlite3.connect(database) as connection:
        accounts = connection.execute(
            "SELECT accounts.id, accounts.name, api_keys.key_hash FROM accounts "
            "JOIN api_keys ON api_keys.account_id = accounts.id").fetchall()
        profiles = connection.execute(
            "SELECT account_id, name, is_default FROM profiles").fetchall()
    connection.close()
    assert len(accounts) == 1
    account_id, name, stored_hash = accounts[0]
    assert name == "My Shop"
    assert stored_hash == hashlib.sha256(key.encode()).hexdigest()
    assert profiles == [(account_id, "Default", 1)]
    assert account_id in result.stderr
    assert key.encode() not in database.read_bytes()


def test_db_upgrade_prints_the_head_revision(data_dir: Path) -> None:
    """`db upgrade` migrates the embedded SQLite file and prints the head revision, twice."""
    database_url = f"sqlite:///{data_dir / 'videofactory.db'}"
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    data_dir.mkdir(parents=True)
    for _ in range(2):
        result = _run("db", "upgrade")
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == f"database at revision {head}"
    with sqlite3.connect(data_dir / "videofactory.db") as connection:
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    connection.close()
    assert {"accounts", "profiles", "jobs", "alembic_version"} <= tables


@pytest.mark.parametrize(("name", "value", "command"), [
    ("SPEECH_RATE", "fast", ["voices", "list"]),
    ("VOICE_DOWNLOADS", "maybe", ["voices", "list"]),
    ("VOICE_ENGINE", "festival", ["db", "upgrade"]),
    ("API_PORT", "-1", ["accounts", "create", "x"]),
])
def test_malformed_variable_exits_einval(data_dir: Path, name: str, value: str,
                                         command: list[str]) -> None:
    """A malformed environment variable exits 22 (EINVAL) with one line naming it, no traceback."""
    result = _run(*command, env={name: value})
    assert result.exit_code == errno.EINVAL == 22
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {name} ")
    assert value in lines[0]
    assert "Traceback" not in result.output
    assert not (data_dir / "videofactory.db").exists()
