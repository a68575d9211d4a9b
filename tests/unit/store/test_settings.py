"""Settings.from_env: defaults, URL rewriting, embedded mode, and errors naming the variable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from store.settings import (
    ENV_VARS,
    Settings,
    SettingsError,
    normalise_database_url,
    split_media_url,
)


def test_defaults_without_environment(tmp_path: Path) -> None:
    """With only DATA_DIR set, everything else takes its documented default."""
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert make_url(settings.database_url).get_backend_name() == "sqlite"
    assert make_url(settings.database_url).database == str(tmp_path / "videofactory.db")
    assert settings.redis_url is None
    assert settings.embedded is True
    assert settings.data_dir == tmp_path
    assert settings.media_root == tmp_path / "media"
    assert settings.export_dir == tmp_path / "exports"
    assert settings.redis_key_prefix == "vf"
    assert settings.max_request_bytes == 65536
    assert settings.max_idea_chars == 500
    assert settings.project_lock_ttl == 900.0
    assert settings.api_host == "127.0.0.1"
    assert settings.api_port == 8000
    assert settings.voice_engine == "auto"
    assert settings.piper_voice is None
    assert settings.log_level == "INFO"
    assert settings.log_json is False


def test_default_data_dir_is_expanded() -> None:
    """The default DATA_DIR lives under the user's home, with ~ expanded."""
    settings = Settings.from_env({})
    assert settings.data_dir == Path("~/.local/share/videofactory").expanduser()
    assert "~" not in settings.database_url


def test_reads_process_environment_when_given_none(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    """from_env() without a mapping reads os.environ."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MAX_IDEA_CHARS", "123")
    settings = Settings.from_env()
    assert settings.data_dir == tmp_path
    assert settings.max_idea_chars == 123


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/vf", "postgresql+psycopg://u:p@db:5432/vf"),
        ("postgresql://u:p@db/vf", "postgresql+psycopg://u:p@db/vf"),
        ("postgresql+psycopg://u@db/vf", "postgresql+psycopg://u@db/vf"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_url_uses_psycopg(tmp_path: Path, given: str, expected: str) -> None:
    """postgres:// and postgresql:// URLs are rewritten to the psycopg 3 driver; others kept."""
    assert normalise_database_url(given) == expected
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), "DATABASE_URL": given})
    assert settings.database_url == expected


@pytest.mark.parametrize("folder", ["100%data", "what?x", "50%25off"])
def test_embedded_database_path_survives_url_syntax(tmp_path: Path, folder: str) -> None:
    """The default SQLite URL names DATA_DIR/videofactory.db whatever characters DATA_DIR has."""
    data_dir = tmp_path / folder
    settings = Settings.from_env({"DATA_DIR": str(data_dir)})
    assert make_url(settings.database_url).database == str(data_dir / "videofactory.db")


def test_redis_url_turns_embedded_off(tmp_path: Path) -> None:
    """Setting REDIS_URL switches to the distributed mode."""
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), "REDIS_URL": "redis://r:6379/0"})
    assert settings.redis_url == "redis://r:6379/0"
    assert settings.embedded is False


def test_blank_values_count_as_unset(tmp_path: Path) -> None:
    """A variable set to whitespace falls back to its default."""
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), "REDIS_URL": "  ",
                                  "API_PORT": " ", "DATABASE_URL": ""})
    assert settings.redis_url is None
    assert settings.api_port == 8000
    assert settings.database_url.startswith("sqlite:///")


def test_explicit_values_are_coerced(tmp_path: Path) -> None:
    """Numbers, booleans and paths are parsed into their types."""
    settings = Settings.from_env({
        "DATA_DIR": str(tmp_path), "MEDIA_ROOT": str(tmp_path / "m"),
        "EXPORT_DIR": str(tmp_path / "e"), "API_PORT": "9001", "PROJECT_LOCK_TTL": "2.5",
        "LOG_JSON": "yes", "LOG_LEVEL": "debug", "VOICE_ENGINE": "espeak",
        "MAX_REQUEST_BYTES": "1024",
    })
    assert settings.media_root == tmp_path / "m"
    assert settings.export_dir == tmp_path / "e"
    assert settings.api_port == 9001
    assert settings.project_lock_ttl == 2.5
    assert settings.log_json is True
    assert settings.log_level == "DEBUG"
    assert settings.voice_engine == "espeak"
    assert settings.max_request_bytes == 1024


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("API_PORT", "eighty"),
        ("MAX_IDEA_CHARS", "5.5"),
        ("MAX_REQUEST_BYTES", "64k"),
        ("SPEECH_RATE", "fast"),
        ("PROJECT_LOCK_TTL", "soon"),
        ("TIME_LIMIT_SCALE", "x2"),
        ("LOG_JSON", "maybe"),
        ("VOICE_ENGINE", "festival"),
    ],
)
def test_bad_value_names_the_variable(tmp_path: Path, name: str, value: str) -> None:
    """A value that cannot be used raises SettingsError naming the variable and the value."""
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"DATA_DIR": str(tmp_path), name: value})
    assert name in str(info.value)
    assert repr(value) in str(info.value)


def test_settings_are_frozen(tmp_path: Path) -> None:
    """Settings cannot be changed after construction; tests use dataclasses.replace."""
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.max_idea_chars = 1  # type: ignore[misc]
    assert dataclasses.replace(settings, max_idea_chars=1).max_idea_chars == 1


def test_every_env_var_maps_to_a_field() -> None:
    """Each documented variable fills a field of Settings, and no two share a name."""
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert {var.field for var in ENV_VARS} <= fields
    names = [var.name for var in ENV_VARS]
    assert len(names) == len(set(names))
    assert all(var.help for var in ENV_VARS)


def test_media_defaults_are_the_local_folder(tmp_path: Path) -> None:
    """Without MEDIA_URL media stays in MEDIA_ROOT, and the S3 settings take their defaults."""
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert settings.media_url is None
    assert settings.s3_endpoint_url is None
    assert settings.s3_region == "us-east-1"
    assert settings.aws_access_key_id is None
    assert settings.aws_secret_access_key is None
    assert settings.media_presign is False
    assert settings.media_cache_dir == tmp_path / "cache"
    assert settings.media_cache_bytes == 2147483648


def test_media_variables_are_read(tmp_path: Path) -> None:
    """MEDIA_URL, the S3 connection, MEDIA_PRESIGN and the cache variables are parsed."""
    settings = Settings.from_env({
        "DATA_DIR": str(tmp_path), "MEDIA_URL": "s3://vf-media/prod/artifacts",
        "S3_ENDPOINT_URL": "http://minio:9000", "S3_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t",
        "MEDIA_PRESIGN": "true", "MEDIA_CACHE_DIR": str(tmp_path / "c"),
        "MEDIA_CACHE_BYTES": "1048576",
    })
    assert settings.media_url == "s3://vf-media/prod/artifacts"
    assert settings.s3_endpoint_url == "http://minio:9000"
    assert settings.s3_region == "eu-central-1"
    assert settings.aws_access_key_id == "AKIAEXAMPLE"
    assert settings.aws_secret_access_key == "s3cr3t"
    assert settings.media_presign is True
    assert settings.media_cache_dir == tmp_path / "c"
    assert settings.media_cache_bytes == 1048576


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://vf-media", ("vf-media", "")),
        ("s3://vf-media/", ("vf-media", "")),
        ("s3://vf-media/prod/artifacts/", ("vf-media", "prod/artifacts")),
        ("s3://abc/x", ("abc", "x")),
        ("s3://" + "b" * 63 + "/x", ("b" * 63, "x")),
    ],
)
def test_split_media_url(url: str, expected: tuple[str, str]) -> None:
    """An s3:// MEDIA_URL splits into its bucket and a prefix without outer slashes."""
    assert split_media_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["http://bucket/prefix", "bucket/prefix", "s3:/bucket", "gs://bucket", "s3://ab/x",
     "s3:///prefix", "s3://" + "b" * 64],
)
def test_bad_media_url_names_the_variable(tmp_path: Path, url: str) -> None:
    """A MEDIA_URL that is not s3:// with a 3-63 character bucket fails at load, naming it."""
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"DATA_DIR": str(tmp_path), "MEDIA_URL": url})
    assert "MEDIA_URL" in str(info.value)
    assert repr(url) in str(info.value)


@pytest.mark.parametrize(("name", "value"), [("MEDIA_CACHE_BYTES", "2G"),
                                             ("MEDIA_PRESIGN", "sometimes")])
def test_bad_media_values_name_the_variable(tmp_path: Path, name: str, value: str) -> None:
    """A cache size or presign switch that cannot be parsed names its variable and value."""
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"DATA_DIR": str(tmp_path), name: value})
    assert name in str(info.value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("value", ["0", "-1"])
def test_cache_bytes_must_be_positive(tmp_path: Path, value: str) -> None:
    """MEDIA_CACHE_BYTES of zero or less is refused, naming the variable."""
    with pytest.raises(SettingsError, match="MEDIA_CACHE_BYTES must be greater than 0"):
        Settings.from_env({"DATA_DIR": str(tmp_path), "MEDIA_CACHE_BYTES": value})


def test_secret_key_stays_out_of_repr(tmp_path: Path) -> None:
    """Printing or logging Settings never shows AWS_SECRET_ACCESS_KEY."""
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), "AWS_SECRET_ACCESS_KEY": "s3cr3t"})
    assert "s3cr3t" not in repr(settings)
