"""`ensure_ready` and `videofactory media init`: the folder or bucket is there afterwards.

The S3 side runs against the session's real moto server; answers moto never gives (refused
credentials, a name owned by another account) come from botocore's Stubber.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from click.testing import CliRunner, Result

from bench.fleet import free_port
from store.media import LocalMediaStorage, S3MediaStorage, build_media
from store.media.base import StorageNotReady
from store.media.factory import s3_client
from store.settings import ENV_VARS, Settings
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, S3Server, delete_bucket
from videofactory.cli import cli

pytestmark = pytest.mark.usefixtures("restore_logging")


def _s3_env(tmp_path: Path, endpoint: str, bucket: str, **extra: str) -> dict[str, str]:
    return {"DATA_DIR": str(tmp_path / "data"), "MEDIA_URL": f"s3://{bucket}/media",
            "S3_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY, **extra}


def _storage(tmp_path: Path, endpoint: str, bucket: str, **extra: str) -> S3MediaStorage:
    media = build_media(Settings.from_env(_s3_env(tmp_path, endpoint, bucket, **extra)))
    assert isinstance(media, S3MediaStorage)
    return media


def _buckets(server: S3Server) -> set[str]:
    return {b["Name"] for b in server.client.list_buckets()["Buckets"]}


@pytest.fixture
def new_bucket(s3_server: S3Server) -> Iterator[str]:
    """A bucket name nobody has created yet; the bucket is deleted afterwards if it exists."""
    name = f"vf-init-{secrets.token_hex(6)}"
    yield name
    if name in _buckets(s3_server):
        delete_bucket(s3_server.client, name)


@pytest.fixture
def unreachable_endpoint() -> str:
    """An HTTP address where nothing listens (connections are refused at once)."""
    return f"http://127.0.0.1:{free_port()}"


# --- the local folder ------------------------------------------------------------------------

def test_local_folder_is_created_then_left_alone(tmp_path: Path) -> None:
    """The folder and its parents are created; a second call keeps what it holds."""
    media = LocalMediaStorage(tmp_path / "a" / "b" / "media")
    assert "created" in media.ensure_ready()
    assert media.root.is_dir()
    media.put_bytes("job_1/script/script.json", b"{}")
    assert "already exists" in media.ensure_ready()
    assert media.read_bytes("job_1/script/script.json") == b"{}"


def test_local_folder_blocked_by_a_file_names_media_root(tmp_path: Path) -> None:
    """A file where the folder should be is StorageNotReady naming MEDIA_ROOT."""
    (tmp_path / "media").write_text("not a folder")
    with pytest.raises(StorageNotReady, match="MEDIA_ROOT"):
        LocalMediaStorage(tmp_path / "media").ensure_ready()


# --- the bucket, on the moto server ----------------------------------------------------------

def test_missing_bucket_is_created_then_left_alone(tmp_path: Path, s3_server: S3Server,
                                                   new_bucket: str) -> None:
    """The bucket appears (in us-east-1, without a LocationConstraint); running it again
    keeps the bucket and its objects."""
    media = _storage(tmp_path, s3_server.endpoint_url, new_bucket)
    try:
        assert new_bucket not in _buckets(s3_server)
        assert media.ensure_ready() == (f"bucket {new_bucket} created at "
                                        f"{s3_server.endpoint_url} (region us-east-1)")
        assert new_bucket in _buckets(s3_server)
        location = s3_server.client.get_bucket_location(Bucket=new_bucket)
        assert location.get("LocationConstraint") in (None, "us-east-1")

        media.put_bytes("job_1/script/script.json", b"{}")
        assert media.ensure_ready() == (f"bucket {new_bucket} already exists at "
                                        f"{s3_server.endpoint_url}")
        assert media.read_bytes("job_1/script/script.json") == b"{}"
    finally:
        media.close()


def test_existing_bucket_is_fine(tmp_path: Path, s3_server: S3Server, s3_bucket: str) -> None:
    """A bucket made beforehand (by us) is no error and is not touched."""
    s3_server.client.put_object(Bucket=s3_bucket, Key="media/keep.txt", Body=b"kept")
    media = _storage(tmp_path, s3_server.endpoint_url, s3_bucket)
    try:
        assert "already exists" in media.ensure_ready()
    finally:
        media.close()
    body = s3_server.client.get_object(Bucket=s3_bucket, Key="media/keep.txt")["Body"]
    assert body.read() == b"kept"


def test_region_other_than_us_east_1_is_the_location_constraint(
        tmp_path: Path, s3_server: S3Server, new_bucket: str) -> None:
    """With S3_REGION=eu-west-1 the bucket is created there (CreateBucketConfiguration)."""
    media = _storage(tmp_path, s3_server.endpoint_url, new_bucket, S3_REGION="eu-west-1")
    sent: list[dict[str, Any]] = []
    media.client.meta.events.register("provide-client-params.s3.CreateBucket",
                                      lambda params, **_: sent.append(dict(params)))
    try:
        assert media.ensure_ready().endswith("(region eu-west-1)")
    finally:
        media.close()
    assert sent == [{"Bucket": new_bucket,
                     "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"}}]
    location = s3_server.client.get_bucket_location(Bucket=new_bucket)
    assert location["LocationConstraint"] == "eu-west-1"


def test_a_bucket_created_meanwhile_is_fine(tmp_path: Path, s3_server: S3Server,
                                            new_bucket: str) -> None:
    """Two `media init` at once: the loser's CreateBucket answers BucketAlreadyOwnedByYou."""
    media = _storage(tmp_path, s3_server.endpoint_url, new_bucket)
    with Stubber(media.client) as stub:
        stub.add_client_error("head_bucket", "404", http_status_code=404)
        stub.add_client_error("create_bucket", "BucketAlreadyOwnedByYou",
                              http_status_code=409)
        assert "already exists" in media.ensure_ready()
        stub.assert_no_pending_responses()


def test_unreachable_server_names_s3_endpoint_url(tmp_path: Path, unreachable_endpoint: str
                                                   ) -> None:
    """Nothing listening at S3_ENDPOINT_URL: one line naming the setting and the address."""
    media = _storage(tmp_path, unreachable_endpoint, "vf-nowhere")
    try:
        with pytest.raises(StorageNotReady) as caught:
            media.ensure_ready()
    finally:
        media.close()
    message = str(caught.value)
    assert "S3_ENDPOINT_URL" in message and unreachable_endpoint in message
    assert "\n" not in message


@pytest.mark.parametrize(("operation", "code", "status", "names"), [
    ("head_bucket", "403", 403, ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MEDIA_URL")),
    ("head_bucket", "InvalidAccessKeyId", 403, ("AWS_ACCESS_KEY_ID",)),
    ("create_bucket", "SignatureDoesNotMatch", 403, ("AWS_SECRET_ACCESS_KEY",)),
    ("create_bucket", "BucketAlreadyExists", 409, ("MEDIA_URL", "another account")),
])
def test_refusals_name_the_setting_to_check(tmp_path: Path, s3_server: S3Server,
                                            new_bucket: str, operation: str, code: str,
                                            status: int, names: tuple[str, ...]) -> None:
    """Refused credentials or a name someone else owns: StorageNotReady, never a traceback,
    and no bucket is left behind."""
    media = _storage(tmp_path, s3_server.endpoint_url, new_bucket)
    with Stubber(media.client) as stub:
        if operation == "create_bucket":
            stub.add_client_error("head_bucket", "404", http_status_code=404)
        stub.add_client_error(operation, code, http_status_code=status)
        with pytest.raises(StorageNotReady) as caught:
            media.ensure_ready()
        stub.assert_no_pending_responses()
    for name in names:
        assert name in str(caught.value), (name, str(caught.value))
    assert new_bucket not in _buckets(s3_server)


def test_no_credentials_at_all_names_the_variables(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Without keys and without any boto3 credential source: name the two variables."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    media = build_media(Settings.from_env({"DATA_DIR": str(tmp_path / "data"),
                                           "MEDIA_URL": "s3://vf-nokeys/media",
                                           "S3_ENDPOINT_URL": "http://127.0.0.1:9"}))
    assert isinstance(media, S3MediaStorage)
    try:
        with pytest.raises(StorageNotReady, match="AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
            media.ensure_ready()
    finally:
        media.close()


def test_client_region_follows_s3_region(tmp_path: Path, s3_server: S3Server) -> None:
    """The factory's client carries S3_REGION, which ensure_ready reads."""
    settings = Settings.from_env(_s3_env(tmp_path, s3_server.endpoint_url, "vf-any",
                                         S3_REGION="ap-southeast-2"))
    client = s3_client(settings)
    try:
        assert client.meta.region_name == "ap-southeast-2"
    finally:
        client.close()


# --- `videofactory media init` ---------------------------------------------------------------

@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No videofactory variable from the host leaks into the command."""
    for var in ENV_VARS:
        monkeypatch.delenv(var.name, raising=False)


def _run(env: dict[str, str]) -> Result:
    return CliRunner().invoke(cli, ["media", "init"], prog_name="videofactory", env=env)


@pytest.mark.usefixtures("clean_env")
def test_cli_creates_the_local_folder(tmp_path: Path) -> None:
    """Without MEDIA_URL it creates MEDIA_ROOT (default DATA_DIR/media) and says so."""
    env = {"DATA_DIR": str(tmp_path / "data")}
    first = _run(env)
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == f"media folder {tmp_path / 'data' / 'media'} created"
    assert (tmp_path / "data" / "media").is_dir()
    again = _run({**env, "MEDIA_ROOT": str(tmp_path / "data" / "media")})
    assert again.exit_code == 0, again.output
    assert again.stdout.strip().endswith("already exists")


@pytest.mark.usefixtures("clean_env")
def test_cli_creates_the_bucket_once(tmp_path: Path, s3_server: S3Server,
                                     new_bucket: str) -> None:
    """With MEDIA_URL it creates the bucket, then reports it exists; exit 0 both times."""
    env = _s3_env(tmp_path, s3_server.endpoint_url, new_bucket)
    first = _run(env)
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == (f"bucket {new_bucket} created at {s3_server.endpoint_url} "
                                    "(region us-east-1)")
    assert new_bucket in _buckets(s3_server)
    again = _run(env)
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == f"bucket {new_bucket} already exists at " \
                                   f"{s3_server.endpoint_url}"


@pytest.mark.usefixtures("clean_env")
def test_cli_unreachable_endpoint_exits_1_with_one_line(tmp_path: Path,
                                                         unreachable_endpoint: str) -> None:
    """An unreachable S3_ENDPOINT_URL: exit 1, one `error:` line naming it, no traceback."""
    result = _run(_s3_env(tmp_path, unreachable_endpoint, "vf-nowhere"))
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot reach the S3 server")
    assert "S3_ENDPOINT_URL" in lines[0] and "MEDIA_URL" in lines[0]
    assert unreachable_endpoint in lines[0]


@pytest.mark.usefixtures("clean_env")
def test_cli_refused_credentials_exit_1(tmp_path: Path, s3_server: S3Server, new_bucket: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The server refusing the keys: exit 1 with one line naming the key variables."""
    stubbed: list[Stubber] = []
    real_factory = s3_client

    def refusing_client(settings: Settings) -> Any:
        client = real_factory(settings)
        stub = Stubber(client)
        stub.add_client_error("head_bucket", "403", http_status_code=403)
        stub.activate()
        stubbed.append(stub)
        return client

    monkeypatch.setattr("store.media.factory.s3_client", refusing_client)
    result = _run(_s3_env(tmp_path, s3_server.endpoint_url, new_bucket))
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "AWS_ACCESS_KEY_ID" in lines[0] and "MEDIA_URL" in lines[0]
    assert stubbed and new_bucket not in _buckets(s3_server)
