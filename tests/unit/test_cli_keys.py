"""`videofactory accounts` and `videofactory keys` against the embedded database, and what the
API makes of them on the very next request: several keys per account, each shown once and
stored as a hash, revoked keys and disabled accounts refused at once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner, Result
from flask.testing import FlaskClient

from api.app import create_app
from store.accounts import hash_api_key
from store.settings import Settings
from tests.unit.api.conftest import RecordingDispatcher
from videofactory.cli import cli


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="videofactory")


def _client(data_dir: Path) -> FlaskClient:
    settings = Settings.from_env({"DATA_DIR": str(data_dir)})
    return create_app(settings, dispatcher=RecordingDispatcher()).test_client()


def _status(client: FlaskClient, key: str) -> int:
    return client.get("/v1/jobs", headers={"Authorization": f"Bearer {key}"}).status_code


def test_keys_create_list_revoke_and_accounts_disable(data_dir: Path) -> None:
    first = _run("accounts", "create", "Coffee Shop")
    assert first.exit_code == 0, first.output
    first_key = first.stdout.strip()
    second = _run("keys", "create", "Coffee Shop", "--name", "the shop's server")
    assert second.exit_code == 0, second.output
    second_key = second.stdout.strip()
    assert second_key.startswith("vf_") and second_key != first_key
    key_id = second.stderr.split()[1]

    listed = _run("keys", "list", "Coffee Shop")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == 2 and "the shop's server" in lines[1] and "active" in lines[1]
    assert second_key[:8] in lines[1] and second_key not in listed.stdout
    with sqlite3.connect(data_dir / "videofactory.db") as db:
        hashes = {row[0] for row in db.execute("SELECT key_hash FROM api_keys")}
        dumped = " ".join(str(row) for row in db.execute("SELECT * FROM api_keys"))
    assert hashes == {hash_api_key(first_key), hash_api_key(second_key)}
    assert first_key not in dumped and second_key not in dumped

    client = _client(data_dir)
    assert _status(client, first_key) == 200 and _status(client, second_key) == 200
    used = _run("keys", "list", "Coffee Shop").stdout
    assert "used -" not in used.splitlines()[1]  # its last use is recorded

    assert _run("keys", "revoke", key_id).exit_code == 0
    assert _status(client, second_key) == 401  # the very next request, no cache delay
    assert _status(client, first_key) == 200
    assert "revoked" in _run("keys", "list", "Coffee Shop").stdout.splitlines()[1]

    accounts = _run("accounts", "list").stdout
    assert "Coffee Shop" in accounts and "enabled" in accounts
    assert _run("accounts", "disable", "Coffee Shop").exit_code == 0
    assert _status(client, first_key) == 401
    assert "disabled" in _run("accounts", "list").stdout
    assert _run("accounts", "enable", "Coffee Shop").exit_code == 0
    assert _status(client, first_key) == 200
    assert _status(client, second_key) == 401  # a revoked key stays revoked


def test_unknown_names_and_ids_are_clear_errors(data_dir: Path) -> None:
    assert _run("accounts", "create", "Twin").exit_code == 0
    assert _run("accounts", "create", "Twin").exit_code == 0
    ambiguous = _run("keys", "create", "Twin")
    assert ambiguous.exit_code != 0 and "no single account" in ambiguous.stderr
    assert _run("keys", "revoke", "key_nope").exit_code != 0
    assert "no key 'key_nope'" in _run("keys", "revoke", "key_nope").stderr
    assert _run("accounts", "disable", "Nobody").exit_code != 0


def test_accounts_quota_shows_sets_and_resets_and_the_api_obeys(data_dir: Path) -> None:
    key = _run("accounts", "create", "Kite Shop").stdout.strip()
    shown = _run("accounts", "quota", "Kite Shop")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.split("\n")[0].split() == ["video_seconds", "600", "default"]
    changed = _run("accounts", "quota", "Kite Shop", "--running-jobs", "1",
                   "--video-seconds", "0")
    assert changed.exit_code == 0, changed.output
    rows = {line.split()[0]: line.split()[1:] for line in changed.stdout.splitlines()}
    assert rows["running_jobs"] == ["1", "account"]
    assert rows["video_seconds"] == ["no", "limit", "account"]
    assert rows["batch_items"] == ["10000", "default"]
    client = _client(data_dir)
    headers = {"Authorization": f"Bearer {key}"}
    idea = {"source": {"type": "idea", "idea": "Why kites fly"}}
    assert client.post("/v1/jobs", json=idea, headers=headers).status_code == 202
    refused = client.post("/v1/jobs", json=idea, headers=headers)
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "quota_exceeded"
    reset = _run("accounts", "quota", "Kite Shop", "--reset", "running_jobs")
    assert "running_jobs   200" in reset.stdout
    assert client.post("/v1/jobs", json=idea, headers=headers).status_code == 202
    assert _run("accounts", "quota", "Kite Shop", "--running-jobs", "-1").exit_code == 2
    assert _run("accounts", "quota", "Nobody").exit_code != 0
