"""One settings object, read from the environment once, at the edges."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL


class SettingsError(ValueError):
    """An environment variable holds a value we cannot use."""


def _as_int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None


def _as_float(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None


def _as_bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _as_hosts(name: str, raw: str) -> frozenset[str]:
    hosts = frozenset(part.strip().lower() for part in raw.split(",") if part.strip())
    if any(" " in host or "/" in host for host in hosts):
        raise SettingsError(f"{name} must be host names or IPs separated by commas, got {raw!r}")
    return hosts


def _as_path(name: str, raw: str) -> Path:
    return Path(raw).expanduser()


def normalise_database_url(url: str) -> str:
    """Point Postgres URLs at the psycopg 3 driver, the only one we install."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def split_media_url(url: str) -> tuple[str, str]:
    """The bucket and key prefix of an `s3://BUCKET/PREFIX` MEDIA_URL."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "s3":
        raise SettingsError(f"MEDIA_URL must look like s3://BUCKET/PREFIX, got {url!r}")
    bucket, _, prefix = rest.partition("/")
    # S3's own rule; MinIO, Ceph and R2 refuse the same names.
    if not 3 <= len(bucket) <= 63:
        raise SettingsError(
            f"MEDIA_URL's bucket name must have 3 to 63 characters, got {url!r}")
    return bucket, prefix.strip("/")


@dataclass(frozen=True)
class EnvVar:
    """One documented environment variable: the README's table is generated from these."""

    name: str
    field: str
    default: str
    help: str
    coerce: Callable[[str, str], Any] | None = None


# Every variable the project reads. Defaults are strings as a user would type them;
# an empty default means "unset".
ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar("DATABASE_URL", "database_url", "",
           "SQLAlchemy URL. Unset: a SQLite file in DATA_DIR (embedded mode). "
           "postgres:// URLs use psycopg 3."),
    EnvVar("REDIS_URL", "redis_url", "",
           "Broker and live progress. Unset: jobs run in-process (embedded mode)."),
    EnvVar("DATA_DIR", "data_dir", "~/.local/share/videofactory",
           "Home of the SQLite file, media and exports in embedded mode.", _as_path),
    EnvVar("MEDIA_ROOT", "media_root", "",
           "Artifact storage shared by API and workers. Unset: DATA_DIR/media.", _as_path),
    EnvVar("MEDIA_URL", "media_url", "",
           "Unset: the local folder MEDIA_ROOT. s3://BUCKET/PREFIX: an S3-compatible bucket "
           "(MinIO, Ceph, R2, AWS)."),
    EnvVar("S3_ENDPOINT_URL", "s3_endpoint_url", "",
           "URL of the S3-compatible server (http://minio:9000). Unset: AWS itself."),
    EnvVar("S3_REGION", "s3_region", "us-east-1", "Region of the MEDIA_URL bucket."),
    EnvVar("AWS_ACCESS_KEY_ID", "aws_access_key_id", "",
           "Access key of the MEDIA_URL bucket: the usual AWS variable. "
           "Unset: boto3's own chain (config files, instance role)."),
    EnvVar("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key", "",
           "Secret key of the MEDIA_URL bucket: the usual AWS variable. "
           "Unset: boto3's own chain (config files, instance role)."),
    EnvVar("MEDIA_PRESIGN", "media_presign", "false",
           "GET /v1/jobs/<id>/video answers 302 to a presigned URL instead of streaming "
           "(MEDIA_URL buckets only).", _as_bool),
    EnvVar("MEDIA_CACHE_DIR", "media_cache_dir", "",
           "Local copies of MEDIA_URL objects that stages read. Unset: DATA_DIR/cache.",
           _as_path),
    EnvVar("MEDIA_CACHE_BYTES", "media_cache_bytes", "2147483648",
           "Size the media cache is trimmed to, least recently used files first.", _as_int),
    EnvVar("EXPORT_DIR", "export_dir", "",
           "Folder the publish stage copies finished videos to. Unset: `exports/` in the "
           "MEDIA_URL bucket, or DATA_DIR/exports without MEDIA_URL.", _as_path),
    EnvVar("REDIS_KEY_PREFIX", "redis_key_prefix", "vf",
           "Prefix of every Redis key we write (locks, live progress)."),
    EnvVar("VOICE_ENGINE", "voice_engine", "auto",
           "auto (piper when PIPER_VOICE is set, else espeak), espeak or piper."),
    EnvVar("PIPER_VOICE", "piper_voice", "",
           "Default Piper voice: a name (en_US-lessac-medium) or a path to an .onnx."),
    EnvVar("VOICES_DIR", "voices_dir", "",
           "Where Piper voices are installed and looked up. Unset: DATA_DIR/voices.", _as_path),
    EnvVar("VOICE_DOWNLOADS", "voice_downloads", "true",
           "Download a missing Piper voice or Whisper model when online.", _as_bool),
    EnvVar("ESPEAK_VOICE", "espeak_voice", "en-us", "Default espeak-ng voice name."),
    EnvVar("SPEECH_RATE", "speech_rate", "165",
           "espeak-ng speaking rate in words per minute (at speed 1.0).", _as_int),
    EnvVar("WHISPER_MODEL", "whisper_model", "base",
           "Whisper model for speech we did not synthesise: a name (tiny … large-v3, turbo) "
           "or a path to a .pt.", None),
    EnvVar("MODELS_DIR", "models_dir", "",
           "Where Whisper models are kept. Unset: DATA_DIR/models.", _as_path),
    EnvVar("API_HOST", "api_host", "127.0.0.1", "Address `videofactory serve` binds."),
    EnvVar("API_PORT", "api_port", "8000", "Port `videofactory serve` listens on.", _as_int),
    EnvVar("API_THREADS", "api_threads", "8", "Request threads of the API server.", _as_int),
    EnvVar("MAX_REQUEST_BYTES", "max_request_bytes", "65536",
           "Largest accepted request body; bigger bodies get 413.", _as_int),
    EnvVar("MAX_UPLOAD_BYTES", "max_upload_bytes", "524288000",
           "Largest accepted upload (images, clips, logos, music)", _as_int),
    EnvVar("FETCH_ALLOW_HOSTS", "fetch_allow_hosts", "",
           "Comma-separated hosts or IPs that remote fetches (feeds, images, clips) may reach "
           "even though they are private or loopback. Unset: only public addresses.",
           _as_hosts),
    EnvVar("MAX_FEED_BYTES", "max_feed_bytes", "209715200",
           "Largest product feed fetched or uploaded.", _as_int),
    EnvVar("MAX_FETCH_BYTES", "max_fetch_bytes", "52428800",
           "Largest remote image or clip fetched.", _as_int),
    EnvVar("FETCH_TIMEOUT", "fetch_timeout", "20",
           "Seconds one remote fetch may take in all (connect, redirects and body).",
           _as_float),
    EnvVar("MAX_BATCH_ITEMS", "max_batch_items", "50000",
           "Most products one batch makes videos of; the rest are reported as skipped.",
           _as_int),
    EnvVar("MAX_IDEA_CHARS", "max_idea_chars", "500", "Longest accepted idea text.", _as_int),
    EnvVar("RATE_LIMIT_JOBS_PER_MINUTE", "rate_limit_jobs_per_minute", "120",
           "POST /v1/jobs and POST /v1/batches a key may make a minute (429 beyond), shared "
           "by every API process through Redis.", _as_int),
    EnvVar("RATE_LIMIT_UPLOADS_PER_MINUTE", "rate_limit_uploads_per_minute", "60",
           "POST /v1/uploads a key may make a minute (429 beyond).", _as_int),
    EnvVar("QUOTA_VIDEO_SECONDS", "quota_video_seconds", "600",
           "Longest video an account may ask for, in seconds (422 quota_exceeded beyond; "
           "0: no limit). `videofactory accounts quota` sets it per account.", _as_int),
    EnvVar("QUOTA_BATCH_ITEMS", "quota_batch_items", "10000",
           "Most items one batch of an account may make videos of (422 quota_exceeded for a "
           "larger limit or collection; a feed's rest is skipped; 0: MAX_BATCH_ITEMS).",
           _as_int),
    EnvVar("QUOTA_RUNNING_JOBS", "quota_running_jobs", "200",
           "Jobs an account may have queued or running at once through POST /v1/jobs and "
           "retries (429 quota_exceeded beyond; 0: no limit).", _as_int),
    EnvVar("EVENTS_STREAM_SECONDS", "events_stream_seconds", "300",
           "Longest a Server-Sent Events stream (GET /v1/jobs/<id>/events) stays open; the "
           "browser reconnects by itself.", _as_float),
    EnvVar("PROJECT_LOCK_TTL", "project_lock_ttl", "900",
           "Seconds a project lock lives without a heartbeat (a dead worker's lock expires).",
           _as_float),
    EnvVar("WORKER_CONCURRENCY", "worker_concurrency", "1",
           "Processes per worker (`--concurrency` overrides).", _as_int),
    EnvVar("WORKER_MAX_TASKS_PER_CHILD", "worker_max_tasks_per_child", "50",
           "Tasks a worker process runs before it is replaced (bounds leaks).", _as_int),
    EnvVar("STAGE_LEASE_SECONDS", "stage_lease_seconds", "30",
           "A running stage whose heartbeat is older than this is taken as lost.", _as_float),
    EnvVar("RECONCILE_INTERVAL", "reconcile_interval", "10",
           "Seconds between two passes of the reconciler.", _as_float),
    EnvVar("MAX_STAGE_ATTEMPTS", "max_stage_attempts", "3",
           "Runs of one stage before its job fails as stuck.", _as_int),
    EnvVar("WORKER_SHUTDOWN_GRACE", "worker_shutdown_grace", "120",
           "Seconds a worker finishing its task on SIGTERM gets before it stops anyway.",
           _as_float),
    EnvVar("TIME_LIMIT_SCALE", "time_limit_scale", "1.0",
           "Multiplies every stage's soft and hard time limit.", _as_float),
    EnvVar("BROKER_VISIBILITY_TIMEOUT", "broker_visibility_timeout", "7600",
           "Seconds Redis keeps a taken, unacknowledged message before delivering it again; "
           "must exceed the longest stage time limit (render: 1900 s x TIME_LIMIT_SCALE).",
           _as_int),
    EnvVar("SECRET_KEY", "secret_key", "",
           "Encrypts the secrets profiles hold (LLM and stock keys) at rest: any long random "
           "string. Unset: profiles cannot store secrets."),
    EnvVar("SECRET_KEY_PREVIOUS", "secret_key_previous", "",
           "Comma-separated earlier SECRET_KEYs: secrets they encrypted stay readable after "
           "a rotation."),
    EnvVar("LLM_BASE_URL", "llm_base_url", "",
           "OpenAI-compatible chat-completions endpoint (https://api.openai.com/v1, "
           "http://localhost:11434/v1 for Ollama). Unset: scripts from the offline template."),
    EnvVar("LLM_MODEL", "llm_model", "", "Model name sent to LLM_BASE_URL (gpt-4o-mini, "
           "llama3.1:8b)."),
    EnvVar("LLM_API_KEY", "llm_api_key", "",
           "Bearer key for LLM_BASE_URL. Unset: no Authorization header (local servers)."),
    EnvVar("LLM_TIMEOUT", "llm_timeout", "120",
           "Seconds one chat-completions call may take before the script stage fails with "
           "llm_unavailable.", _as_float),
    EnvVar("LLM_PRICE_INPUT_PER_1K", "llm_price_input_per_1k", "0",
           "USD per 1,000 prompt tokens, for api_costs.", _as_float),
    EnvVar("LLM_PRICE_OUTPUT_PER_1K", "llm_price_output_per_1k", "0",
           "USD per 1,000 completion tokens, for api_costs.", _as_float),
    EnvVar("PEXELS_API_KEY", "pexels_api_key", "",
           "Pexels key: stock videos and photos for scenes (visuals stock or auto)."),
    EnvVar("PEXELS_BASE_URL", "pexels_base_url", "https://api.pexels.com",
           "Pexels API root."),
    EnvVar("PIXABAY_API_KEY", "pixabay_api_key", "",
           "Pixabay key: stock videos and photos for scenes (visuals stock or auto)."),
    EnvVar("PIXABAY_BASE_URL", "pixabay_base_url", "https://pixabay.com/api",
           "Pixabay API root."),
    EnvVar("FFMPEG_BINARY", "ffmpeg_binary", "ffmpeg", "ffmpeg executable."),
    EnvVar("FFPROBE_BINARY", "ffprobe_binary", "ffprobe", "ffprobe executable."),
    EnvVar("ENCODER_THREADS", "encoder_threads", "0",
           "libx264 threads (0: one per core).", _as_int),
    EnvVar("LOG_LEVEL", "log_level", "INFO", "DEBUG, INFO, WARNING or ERROR."),
    EnvVar("LOG_JSON", "log_json", "false", "Log one JSON object per line.", _as_bool),
)


@dataclass(frozen=True)
class Settings:
    """Everything configurable, typed. Build with `Settings.from_env()` at an edge."""

    database_url: str
    redis_url: str | None
    data_dir: Path
    media_root: Path
    export_dir: Path | None  # None: exports/ in media storage (the bucket)
    media_url: str | None = None  # None: the folder media_root; else s3://BUCKET/PREFIX
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    aws_access_key_id: str | None = None
    # Kept out of repr so that a logged or printed Settings never shows the secret.
    aws_secret_access_key: str | None = field(default=None, repr=False)
    media_presign: bool = False
    media_cache_dir: Path = Path("cache")
    media_cache_bytes: int = 2147483648
    redis_key_prefix: str = "vf"
    voice_engine: str = "auto"
    piper_voice: str | None = None
    voices_dir: Path = Path("voices")
    voice_downloads: bool = True
    espeak_voice: str = "en-us"
    speech_rate: int = 165
    whisper_model: str = "base"
    models_dir: Path = Path("models")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_threads: int = 8
    max_request_bytes: int = 65536
    max_upload_bytes: int = 524288000
    max_idea_chars: int = 500
    rate_limit_jobs_per_minute: int = 120
    rate_limit_uploads_per_minute: int = 60
    fetch_allow_hosts: frozenset[str] = frozenset()
    max_feed_bytes: int = 209715200
    max_fetch_bytes: int = 52428800
    fetch_timeout: float = 20.0
    max_batch_items: int = 50000
    quota_video_seconds: int = 600
    quota_batch_items: int = 10000
    quota_running_jobs: int = 200
    events_stream_seconds: float = 300.0
    project_lock_ttl: float = 900.0
    worker_concurrency: int = 1
    worker_max_tasks_per_child: int = 50
    stage_lease_seconds: float = 30.0
    reconcile_interval: float = 10.0
    max_stage_attempts: int = 3
    worker_shutdown_grace: float = 120.0
    time_limit_scale: float = 1.0
    broker_visibility_timeout: int = 7600
    secret_key: str | None = field(default=None, repr=False)
    secret_key_previous: str | None = field(default=None, repr=False)
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    llm_timeout: float = 120.0
    llm_price_input_per_1k: float = 0.0
    llm_price_output_per_1k: float = 0.0
    pexels_api_key: str | None = field(default=None, repr=False)
    pexels_base_url: str = "https://api.pexels.com"
    pixabay_api_key: str | None = field(default=None, repr=False)
    pixabay_base_url: str = "https://pixabay.com/api"
    ffmpeg_binary: str = "ffmpeg"
    ffprobe_binary: str = "ffprobe"
    encoder_threads: int = 0
    log_level: str = "INFO"
    log_json: bool = False

    @property
    def embedded(self) -> bool:
        """No broker configured: jobs run in this process."""
        return self.redis_url is None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every variable in ENV_VARS, failing fast with the variable's name."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for var in ENV_VARS:
            raw = env.get(var.name, "").strip() or var.default
            if raw == "" and var.coerce is _as_hosts:
                values[var.field] = frozenset()
            elif raw == "":
                values[var.field] = None
            elif var.coerce is not None:
                values[var.field] = var.coerce(var.name, raw)
            else:
                values[var.field] = raw
        data_dir: Path = values["data_dir"]
        values["media_root"] = values["media_root"] or data_dir / "media"
        if values["export_dir"] is None and values["media_url"] is None:
            values["export_dir"] = data_dir / "exports"
        values["voices_dir"] = values["voices_dir"] or data_dir / "voices"
        values["models_dir"] = values["models_dir"] or data_dir / "models"
        values["media_cache_dir"] = values["media_cache_dir"] or data_dir / "cache"
        if values["media_url"] is not None:
            split_media_url(values["media_url"])  # fail at load, not at the first upload
        # Built as a URL object so that %, ? or # in DATA_DIR stay part of the path.
        embedded_url = URL.create("sqlite", database=str(data_dir / "videofactory.db"))
        values["database_url"] = normalise_database_url(
            values["database_url"] or embedded_url.render_as_string(hide_password=False)
        )
        for name in ("project_lock_ttl", "max_request_bytes", "max_upload_bytes",
                     "max_idea_chars", "api_port", "api_threads", "worker_concurrency",
                     "worker_max_tasks_per_child", "speech_rate", "time_limit_scale",
                     "media_cache_bytes", "broker_visibility_timeout", "max_feed_bytes",
                     "max_fetch_bytes", "fetch_timeout", "max_batch_items", "llm_timeout",
                     "rate_limit_jobs_per_minute", "rate_limit_uploads_per_minute",
                     "events_stream_seconds"):
            if values[name] <= 0:
                var = next(v.name for v in ENV_VARS if v.field == name)
                raise SettingsError(f"{var} must be greater than 0, got {values[name]}")
        for name in ("llm_price_input_per_1k", "llm_price_output_per_1k",
                     "quota_video_seconds", "quota_batch_items", "quota_running_jobs"):
            if values[name] < 0:
                var = next(v.name for v in ENV_VARS if v.field == name)
                raise SettingsError(f"{var} must be 0 or more, got {values[name]}")
        values["log_level"] = values["log_level"].upper()
        if values["voice_engine"] not in {"auto", "espeak", "piper"}:
            raise SettingsError(
                f"VOICE_ENGINE must be auto, espeak or piper, got {values['voice_engine']!r}"
            )
        return cls(**values)
