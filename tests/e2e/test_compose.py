"""docker-compose.yml as data (Docker does not run here), then its command lines as processes."""

from __future__ import annotations

import re
import shlex
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import requests
from click.testing import CliRunner

from store.settings import ENV_VARS, Settings, split_media_url
from tests.e2e.fleet_support import (
    COMPOSE_FILE,
    CPU_ONLY_FILE,
    ENV_EXAMPLE,
    REPO,
    Compose,
    Tagged,
    duration_seconds,
    load_yaml,
    local_fleet,
    read_env_file,
    reconcile_command_exists,
    referenced_variables,
)
from videofactory.cli import cli
from worker.celery_app import create_celery
from worker.routing import QUEUES, ROUTES

EXPECTED_SERVICES = {"postgres", "redis", "minio", "migrate", "api", "worker-cpu", "worker-gpu",
                     "flower", "reconciler"}
APP_SERVICES = ("migrate", "api", "worker-cpu", "worker-gpu", "reconciler")
CPU_IMAGE_SERVICES = ("migrate", "api", "worker-cpu", "flower", "reconciler")
AFTER_MIGRATE = ("api", "worker-cpu", "worker-gpu", "flower", "reconciler")
# The services that read or write media (all in the minio bucket); flower touches none.
MEDIA_SERVICES = ("api", "worker-cpu", "worker-gpu", "reconciler")
MINIO_ENDPOINT = "http://minio:9000"
# The services that keep Piper voices and Whisper models on the `models` volume.
MODEL_CACHES = ("api", "worker-cpu", "worker-gpu")
# Folders that must not be shared between containers any more: media live in the bucket.
UNSHARED_FOLDERS = ("/data/media", "/data/exports")
SYSTEM_PACKAGES = ("ffmpeg", "espeak-ng", "fonts-noto-core", "fonts-noto-cjk",
                   "fonts-noto-color-emoji", "fonts-dejavu-core", "curl")


@pytest.fixture(scope="module")
def compose() -> Compose:
    """docker-compose.yml, interpolated with .env.example as the operator's .env."""
    return Compose.load()


def _videofactory_command(monkeypatch: pytest.MonkeyPatch, argv: list[str]
                          ) -> tuple[list[str], dict[str, Any]]:
    """Parse a `videofactory …` line with the real click group (the command's body replaced
    by a recorder): every subcommand, option, choice and required value is checked."""
    assert argv[0] == "videofactory", argv
    command: click.Command = cli
    path: list[str] = []
    words = iter(argv[1:])
    while isinstance(command, click.Group):
        name = next(word for word in words if not word.startswith("-"))
        assert name in command.commands, f"no command `videofactory {' '.join(path + [name])}`"
        command = command.commands[name]
        path.append(name)
    recorded: dict[str, Any] = {}
    monkeypatch.setattr(command, "callback", lambda **params: recorded.update(params))
    result = CliRunner().invoke(cli, argv[1:])
    assert result.exit_code == 0, f"{shlex.join(argv)}: {result.output}"
    return path, recorded


def _mounts(spec: dict[str, Any]) -> dict[str, str]:
    """A service's volumes as {container path: source}."""
    mounts = {}
    for volume in spec.get("volumes", []):
        source, target = volume.split(":")[:2]
        mounts[target] = source
    return mounts


def _depends(spec: dict[str, Any]) -> dict[str, str]:
    return {name: rule["condition"] for name, rule in spec.get("depends_on", {}).items()}


def test_services_and_their_images(compose: Compose) -> None:
    """The fleet's services are all there, built from Dockerfile (cpu) and Dockerfile.gpu."""
    assert set(compose.services) == EXPECTED_SERVICES
    for name in CPU_IMAGE_SERVICES:
        assert compose.services[name]["build"]["dockerfile"] == "Dockerfile", name
        assert compose.services[name]["image"] == "videofactory:cpu", name
    assert compose.services["worker-gpu"]["build"]["dockerfile"] == "Dockerfile.gpu"
    assert compose.services["worker-gpu"]["image"] == "videofactory:gpu"
    for name in ("Dockerfile", "Dockerfile.gpu", ".dockerignore"):
        assert (REPO / name).is_file(), name
    for name, spec in compose.services.items():
        # `--scale` needs replicas without fixed names; workers publish no ports.
        assert "container_name" not in spec, name
        if name.startswith("worker-"):
            assert "ports" not in spec, name


def test_every_service_has_a_healthcheck(compose: Compose) -> None:
    """Every service declares a health check with a command and an interval."""
    for name, spec in compose.services.items():
        check = spec.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), name
        assert duration_seconds(check["interval"]) > 0, name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_postgres_and_redis_keep_their_data(compose: Compose) -> None:
    """Postgres lives on the pgdata volume and answers pg_isready; Redis appends to its AOF."""
    postgres = compose.services["postgres"]
    assert _mounts(postgres)["/var/lib/postgresql/data"] == "pgdata"
    assert compose.healthcheck_argv("postgres")[0] == "pg_isready"
    environment = postgres["environment"]
    assert environment["POSTGRES_DB"] == "videofactory"
    assert environment["POSTGRES_USER"] == "videofactory"

    redis = compose.services["redis"]
    command = redis["command"]
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert _mounts(redis)["/data"] == "redisdata"
    assert "redis-cli ping" in " ".join(compose.healthcheck_argv("redis"))


def test_named_volumes_and_no_shared_media_folder(compose: Compose) -> None:
    """Named volumes are declared; no app service mounts a shared media or exports volume
    (media and exports live in the bucket), only the per-machine `models` cache."""
    declared = set(compose.data["volumes"])
    assert declared == {"pgdata", "redisdata", "miniodata", "models"}
    for name, spec in compose.services.items():
        for target, source in _mounts(spec).items():
            assert source in declared, f"{name}: {source} is not a named volume"
            assert target.startswith("/"), name
    for name in APP_SERVICES:
        spec = compose.services[name]
        mounts = _mounts(spec)
        assert not {"media", "exports"} & set(mounts.values()), name
        for target in mounts:
            assert not any(target == folder or target.startswith(folder + "/")
                           or folder.startswith(target.rstrip("/") + "/")
                           for folder in UNSHARED_FOLDERS), (name, target)
        env = compose.environment(name)
        # No folder for media or exports: the empty .env values leave both unset, so
        # exports go to the bucket's exports/ (store/settings.py).
        assert not {"MEDIA_ROOT", "EXPORT_DIR"} & set(spec["environment"]), name
        assert env.get("MEDIA_ROOT", "") == "" and env.get("EXPORT_DIR", "") == "", name
        settings = Settings.from_env(env)
        assert settings.export_dir is None and settings.media_url is not None, name
        if name in MODEL_CACHES:
            # The model caches are on a volume, not in the container's own layer.
            for var in ("VOICES_DIR", "MODELS_DIR"):
                assert any(env[var] == target or env[var].startswith(target + "/")
                           for target in mounts), (name, var, env[var])


def test_minio_service_holds_the_media_bucket(compose: Compose) -> None:
    """minio runs a pinned release with a health check and its data on a volume; every app
    service waits for it to be healthy and reaches it at MEDIA_URL / S3_ENDPOINT_URL with
    its root user's keys."""
    minio = compose.services["minio"]
    image = minio["image"]
    assert re.fullmatch(r"minio/minio:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", image), image
    assert compose.command("minio") == ["server", "/data", "--console-address", ":9001"]
    assert _mounts(minio)["/data"] == "miniodata"
    assert compose.healthcheck_argv("minio") == ["mc", "ready", "local"]
    assert duration_seconds(minio["healthcheck"]["interval"]) > 0
    assert minio["restart"] == "unless-stopped"
    user = minio["environment"]["MINIO_ROOT_USER"]
    password = minio["environment"]["MINIO_ROOT_PASSWORD"]
    assert len(user) >= 3 and len(password) >= 8  # MinIO refuses to start otherwise
    # The same ${…} expressions, not copies that could drift apart.
    raw_minio = compose.raw["services"]["minio"]["environment"]
    for name in APP_SERVICES:
        assert _depends(compose.services[name])["minio"] == "service_healthy", name
        env = compose.environment(name)
        bucket, prefix = split_media_url(env["MEDIA_URL"])
        assert env["MEDIA_URL"].startswith("s3://") and prefix, (name, env["MEDIA_URL"])
        assert env["S3_ENDPOINT_URL"] == MINIO_ENDPOINT, name
        assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (user, password)
        raw_env = compose.raw["services"][name]["environment"]
        assert raw_env["AWS_ACCESS_KEY_ID"] == raw_minio["MINIO_ROOT_USER"], name
        assert raw_env["AWS_SECRET_ACCESS_KEY"] == raw_minio["MINIO_ROOT_PASSWORD"], name
        assert bucket == compose.dot_env["MINIO_BUCKET"], name
    assert "minio" not in _depends(compose.services["flower"])


def test_migrate_creates_the_bucket_after_the_schema(compose: Compose,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """migrate runs `db upgrade`, then `media init`, and only the second when the first
    succeeded; the API and workers start when it exits 0, so the bucket is there for them."""
    lines = compose.command_lines("migrate")
    assert [_videofactory_command(monkeypatch, line)[0] for line in lines] == \
        [["db", "upgrade"], ["media", "init"]]
    assert compose.command("migrate")[:2] == ["sh", "-c"] and "&&" in compose.command("migrate")[2]
    for name in MEDIA_SERVICES:
        assert _depends(compose.services[name])["migrate"] == \
            "service_completed_successfully", name


def test_start_order(compose: Compose) -> None:
    """migrate runs once after Postgres is healthy; the rest wait for it to succeed."""
    migrate = compose.services["migrate"]
    assert migrate["restart"] == "no"
    assert _depends(migrate) == {"postgres": "service_healthy", "minio": "service_healthy"}
    for name in AFTER_MIGRATE:
        media = {"minio": "service_healthy"} if name in MEDIA_SERVICES else {}
        assert _depends(compose.services[name]) == {
            "migrate": "service_completed_successfully",
            "postgres": "service_healthy",
            "redis": "service_healthy",
            **media,
        }, name
    for name in set(compose.services) - {"migrate"}:
        assert compose.services[name]["restart"] == "unless-stopped", name


def test_services_reach_each_other_by_name(compose: Compose) -> None:
    """Inside compose, DATABASE_URL and REDIS_URL name the postgres and redis services."""
    postgres_env = compose.services["postgres"]["environment"]
    for name in APP_SERVICES:
        env = compose.environment(name)
        database = urlsplit(env["DATABASE_URL"])
        assert (database.hostname, database.port) == ("postgres", 5432), name
        assert database.username == postgres_env["POSTGRES_USER"]
        assert database.password == postgres_env["POSTGRES_PASSWORD"]
        assert database.path == "/" + postgres_env["POSTGRES_DB"]
        broker = urlsplit(env["REDIS_URL"])
        assert (broker.hostname, broker.port) == ("redis", 6379), name
        assert broker.password == compose.services["redis"]["environment"]["REDISCLI_AUTH"]
        Settings.from_env(env)  # every value is one the settings accept
    assert compose.environment("flower")["CELERY_BROKER_URL"] == \
        compose.environment("api")["REDIS_URL"]


def test_app_commands_are_real_videofactory_commands(compose: Compose,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """migrate, api and the workers run `videofactory` command lines that the CLI accepts."""
    assert [_videofactory_command(monkeypatch, line)[0]
            for line in compose.command_lines("migrate")] == [["db", "upgrade"], ["media", "init"]]
    path, params = _videofactory_command(monkeypatch, compose.command("api"))
    assert path == ["serve"] and params["host"] == "0.0.0.0"
    assert compose.services["api"]["ports"] == [f"{params['port']}:{params['port']}"]
    assert f":{params['port']}/v1/health" in " ".join(compose.healthcheck_argv("api"))
    for name in ("worker-cpu", "worker-gpu"):
        path, params = _videofactory_command(monkeypatch, compose.command(name))
        assert path == ["worker"] and params["pool"] == name.removeprefix("worker-"), name


def test_reconciler_runs_videofactory_reconcile(compose: Compose,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The reconciler service runs `videofactory reconcile`, a command the CLI has."""
    assert compose.command("reconciler") == ["videofactory", "reconcile"]
    if "reconcile" not in cli.commands:
        pytest.skip("`videofactory reconcile` does not exist yet: only the compose entry is "
                    "checked")
    assert _videofactory_command(monkeypatch, compose.command("reconciler"))[0] == ["reconcile"]


def test_flower_is_a_real_celery_flower_command(compose: Compose) -> None:
    """Flower runs `celery flower` with options Flower knows, on the port it publishes."""
    from celery.bin.celery import celery as celery_cli
    from flower.options import default_options

    argv = compose.command("flower")
    assert argv[0] == "celery" and "flower" in argv
    assert "flower" in celery_cli.commands  # the plugin is installed
    options = {}
    for word in argv[argv.index("flower") + 1:]:
        name, _, value = word.removeprefix("--").partition("=")
        assert word.startswith("--") and name in default_options, word
        options[name] = value
    port = options["port"]
    assert compose.services["flower"]["ports"] == [f"{port}:{port}"]
    assert f"127.0.0.1:{port}/healthcheck" in " ".join(compose.healthcheck_argv("flower"))
    env = compose.environment("flower")
    assert re.fullmatch(r"[^:,]+:[^,]+", env["FLOWER_BASIC_AUTH"]), "user:password"


def test_worker_pools_consume_what_routing_sends(compose: Compose,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers' pools are exactly the queues the stage tasks are routed to."""
    app = create_celery(Settings.from_env({"REDIS_URL": "redis://redis:6379/0"}))
    routed = {route["queue"] for route in app.conf.task_routes.values()}
    assert routed == {route.queue for route in ROUTES} == set(QUEUES) == {"cpu", "gpu"}
    pools = {}
    for name, spec in compose.services.items():
        if spec.get("command", [])[:2] == ["videofactory", "worker"]:
            _, params = _videofactory_command(monkeypatch, compose.command(name))
            pools[name] = params["pool"]
            # The health check pings this pool's node on this container.
            check = " ".join(compose.healthcheck_argv(name))
            assert f"--destination {params['pool']}@$HOSTNAME" in check, name
            assert check.startswith("sh -c celery ") and "inspect ping" in check, name
    assert pools == {"worker-cpu": "cpu", "worker-gpu": "gpu"}
    assert set(pools.values()) == routed


def test_workers_outlast_a_warm_shutdown(compose: Compose) -> None:
    """Docker waits longer than a worker's bounded warm shutdown before it kills it."""
    grace = max(float(next(v.default for v in ENV_VARS if v.name == "WORKER_SHUTDOWN_GRACE")),
                float(read_env_file(ENV_EXAMPLE)["WORKER_SHUTDOWN_GRACE"]))
    for name in ("worker-cpu", "worker-gpu"):
        spec = compose.services[name]
        assert duration_seconds(spec["stop_grace_period"]) >= grace + 15, name
        assert spec["init"] is True, name  # signals reach the worker, zombies are reaped


def test_gpu_reservation_and_the_cpu_only_override(compose: Compose) -> None:
    """worker-gpu reserves the NVIDIA GPUs; the cpu-only override drops that and the CUDA
    image, so the same worker starts on a host without a GPU."""
    devices = compose.services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    override = load_yaml(CPU_ONLY_FILE)
    assert set(override["services"]) == {"worker-gpu"}
    gpu = override["services"]["worker-gpu"]
    assert gpu["deploy"] == Tagged("!reset", {})
    assert gpu["build"]["dockerfile"] == "Dockerfile"
    assert gpu["image"] == compose.services["api"]["image"]
    assert "docker-compose.cpu-only.yml" in COMPOSE_FILE.read_text()


def test_env_example_lists_every_setting() -> None:
    """.env.example sets every variable of store/settings.py, with its default and help, and
    every variable the compose files interpolate, and nothing else."""
    text = ENV_EXAMPLE.read_text()
    app_part, marker, compose_part = text.partition("# --- docker compose only")
    assert marker, ".env.example needs its `# --- docker compose only` section"
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", app_part, re.M)
    assert names == [var.name for var in ENV_VARS]
    values = read_env_file(ENV_EXAMPLE)
    comment_block = re.compile(r"((?:^#.*\n)+)^([A-Z][A-Z0-9_]*)=", re.M)
    helps = {name: " ".join(line.lstrip("# ") for line in block.splitlines())
             for block, name in comment_block.findall(app_part)}
    for var in ENV_VARS:
        assert values[var.name] == var.default, var.name
        assert " ".join(var.help.split()) in helps[var.name], var.name
    Settings.from_env({name: values[name] for name in names})

    compose_names = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", compose_part, re.M))
    interpolated = (referenced_variables(COMPOSE_FILE.read_text())
                    | referenced_variables(CPU_ONLY_FILE.read_text()))
    # $HOSTNAME and $REDIS_URL are left to the containers' shells ($$ in the file).
    assert compose_names == interpolated
    assert not compose_names & set(names)


def test_dockerfiles_install_what_the_project_needs() -> None:
    """Both images install ffmpeg, espeak-ng and the fonts, the project in editable mode, and
    run as a non-root user; the CPU one takes torch's CPU build, the GPU one CUDA's."""
    cpu = (REPO / "Dockerfile").read_text()
    gpu = (REPO / "Dockerfile.gpu").read_text()
    for text in (cpu, gpu):
        for package in SYSTEM_PACKAGES:
            assert re.search(rf"(?<![\w-]){re.escape(package)}(?![\w-])", text), package
        assert "pip install --no-deps -e ." in text
        assert re.search(r"^USER videofactory$", text, re.M)
        assert re.search(r"^WORKDIR /app$", text, re.M)
    assert cpu.startswith("# syntax") and "FROM python:3.11-slim-bookworm" in cpu
    assert "--index-url https://download.pytorch.org/whl/cpu" in cpu
    assert re.search(r"^FROM nvidia/cuda:[\w.-]+-runtime-", gpu, re.M)
    assert "python3.11" in gpu and "onnxruntime-gpu" in gpu
    assert "download.pytorch.org/whl/cu" in gpu
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", ".git", ".env"} <= set(ignored)


@pytest.mark.slow
def test_compose_command_lines_make_a_video_here(tmp_path: Path) -> None:
    """migrate, api, worker-cpu, worker-gpu (and reconciler) run their exact compose command
    lines here, on a new database, a private Redis number and a new S3 server in minio's
    place, and make one draft video whose media and export land in the bucket."""
    services = ("api", "worker-cpu", "worker-gpu")
    if reconcile_command_exists():
        services += ("reconciler",)
    with local_fleet(tmp_path, services) as fleet:
        fleet.create_account()
        job_id = fleet.submit_draft("Why cold brew tastes smoother than hot coffee")
        done = fleet.wait_for_job(job_id)
        assert done["status"] == "succeeded", f"{done}\n{fleet.tail_logs()}"

        hostname = fleet.env_for("worker-cpu")["HOSTNAME"]
        for route in ROUTES:
            stage = done["stages"][route.stage]
            assert stage["status"] == "succeeded", (route.stage, stage)
            assert stage["queue"] == route.queue
            assert stage["worker"] == f"{route.queue}@{hostname}", (route.stage, stage)
        video = requests.get(f"{fleet.base_url}{done['video_url']}", headers=fleet.headers(),
                             timeout=60)
        assert video.status_code == 200 and video.headers["Content-Type"] == "video/mp4"
        # migrate's `media init` made the bucket; the stages' artifacts are in it under the
        # job id, and the export under exports/ (EXPORT_DIR is unset). No local folder holds
        # media or exports.
        bucket, prefix = split_media_url(fleet.env_for("api")["MEDIA_URL"])
        assert f"bucket {bucket} created" in (fleet.logs / "migrate.log").read_text()
        artifacts = fleet.bucket_keys(below=job_id)
        assert f"{prefix}/{job_id}/render/video.mp4" in artifacts, artifacts
        exported = f"{prefix}/exports/{job_id}.mp4"
        assert exported in fleet.bucket_keys(below="exports")
        assert fleet.read_object(exported) == video.content
        assert not (tmp_path / "data" / "exports").exists()
        assert not (tmp_path / "data" / "media").exists()

        # Each worker consumes exactly its pool's queue.
        app = create_celery(Settings.from_env(fleet.env_for("worker-cpu")))
        try:
            consumed = app.control.inspect(timeout=5).active_queues() or {}
        finally:
            app.close()
        assert {node: sorted(q["name"] for q in queues) for node, queues in consumed.items()} \
            == {f"cpu@{hostname}": ["cpu"], f"gpu@{hostname}": ["gpu"]}

        # The compose health checks pass beside the running processes.
        for service in ("migrate", *services):
            result = fleet.run_healthcheck(service, {":8000/": f":{fleet.api_port}/"})
            assert result.returncode == 0, (service, result.stdout, result.stderr)
        for service in services:
            fleet.assert_running(service)


@pytest.mark.slow
def test_reconciler_command_line_runs_here(tmp_path: Path) -> None:
    """The reconciler's compose command line keeps running against a migrated database."""
    if not reconcile_command_exists():
        pytest.skip("`videofactory reconcile` is not in `videofactory --help` yet: the "
                    "reconciler service is only checked in docker-compose.yml")
    with local_fleet(tmp_path, ("reconciler",)) as fleet:
        time.sleep(3)
        fleet.assert_running("reconciler")
        result = fleet.run_healthcheck("reconciler")
        assert result.returncode == 0, result.stderr
        fleet.assert_running("reconciler")

