"""docker-compose.yml as data, and its services' command lines run here as local processes."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis as redis_lib
import requests
import yaml

from bench.fleet import fresh_database
from store.settings import ENV_VARS, split_media_url
from tests.conftest import POSTGRES_ADMIN_URL, REDIS_SERVER_URL
from tests.e2e.conftest import _stop, _wait_for_workers, free_port
from tests.support.ideas import idea_source
from tests.support.s3 import S3Server, start_s3_server, stop_s3_server

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
CPU_ONLY_FILE = REPO / "docker-compose.cpu-only.yml"
ENV_EXAMPLE = REPO / ".env.example"
VENV_BIN = Path(sys.executable).parent
# Where the compose file mounts the shared volumes; replaced by a temporary folder here.
CONTAINER_DATA = "/data"
# The compose services the application processes reach by name.
DATABASE_SERVICE, REDIS_SERVICE, S3_SERVICE = "postgres", "redis", "minio"
S3_SERVICE_PORT = 9000
# The app services run locally, in this order (migrate first, to completion).
LOCAL_SERVICES = ("api", "worker-cpu", "worker-gpu", "reconciler")


# --- the compose file as data ----------------------------------------------------------------

class ComposeLoader(yaml.SafeLoader):
    """YAML with Compose's merge tags (`!reset`, `!override`) kept as markers."""


@dataclass(frozen=True)
class Tagged:
    """A value carrying a Compose merge tag."""

    tag: str
    value: Any


def _tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Tagged:
    if isinstance(node, yaml.MappingNode):
        value: Any = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)  # type: ignore[arg-type]
    return Tagged(node.tag, value)


for _tag in ("!reset", "!override"):
    ComposeLoader.add_constructor(_tag, _tagged)


def load_yaml(path: Path) -> dict[str, Any]:
    """A compose file parsed, anchors and merge keys resolved, not yet interpolated."""
    with path.open() as handle:
        return yaml.load(handle, Loader=ComposeLoader)  # a SafeLoader subclass


def read_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines of a .env file (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"{path.name}: not NAME=value: {line!r}"
        values[name.strip()] = value.strip()
    return values


_VARIABLE = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>.*))?$", re.S)


def referenced_variables(text: str) -> set[str]:
    """The variables a compose file interpolates (`${NAME…}` and `$NAME`; `$$` is a `$`)."""
    names = set()
    for match in _VARIABLE.finditer(text):
        if match.group(0) == "$$":
            continue
        spec = match.group("braced") if match.group("braced") is not None else match["plain"]
        parsed = _BRACED.match(spec)
        assert parsed, f"cannot parse ${{{spec}}}"
        names.add(parsed["name"])
    return names


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's interpolation of one string: `${A}`, `${A:-d}`, `${A-d}`, `${A:?e}`, `$$`."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        spec = match.group("braced") if match.group("braced") is not None else match["plain"]
        parsed = _BRACED.match(spec)
        assert parsed, f"cannot parse ${{{spec}}}"
        name, op, arg = parsed["name"], parsed["op"], parsed["arg"]
        current = variables.get(name)
        missing = current is None or (current == "" and op is not None and op.startswith(":"))
        if op in (":-", "-"):
            return interpolate(arg, variables) if missing else str(current)
        if op in (":?", "?"):
            if missing:
                raise AssertionError(f"compose would stop: {name}: {arg}")
            return str(current)
        return current or ""

    return _VARIABLE.sub(substitute, value)


def interpolate_tree(node: Any, variables: Mapping[str, str]) -> Any:
    """Every string of a parsed compose file interpolated."""
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, dict):
        return {key: interpolate_tree(value, variables) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(value, variables) for value in node]
    if isinstance(node, Tagged):
        return Tagged(node.tag, interpolate_tree(node.value, variables))
    return node


def app_settings_names() -> list[str]:
    """The names store/settings.py reads, in order."""
    return [var.name for var in ENV_VARS]


@dataclass
class Compose:
    """docker-compose.yml after `cp .env.example .env`: interpolated as Compose would."""

    raw: dict[str, Any]
    dot_env: dict[str, str]
    data: dict[str, Any]

    @classmethod
    def load(cls, path: Path = COMPOSE_FILE, env_file: Path = ENV_EXAMPLE) -> Compose:
        raw = load_yaml(path)
        dot_env = read_env_file(env_file)
        return cls(raw, dot_env, interpolate_tree(raw, dot_env))

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        return self.data["services"]

    def command(self, service: str) -> list[str]:
        command = self.services[service]["command"]
        assert isinstance(command, list), f"{service}: write its command as a list (exec form)"
        return [str(part) for part in command]

    def command_lines(self, service: str) -> list[list[str]]:
        """The command lines the service runs: one, or each of a `sh -c "A && B"`."""
        return command_lines(self.command(service))

    def environment(self, service: str) -> dict[str, str]:
        """What the container's process sees: its env_file (.env) overlaid by `environment`."""
        spec = self.services[service]
        env: dict[str, str] = {}
        env_files = spec.get("env_file", [])
        for name in [env_files] if isinstance(env_files, str) else env_files:
            assert name == ".env", f"{service}: unexpected env_file {name}"
            env.update(self.dot_env)
        environment = spec.get("environment", {})
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        env.update({key: str(value) for key, value in environment.items()})
        return env

    def healthcheck_argv(self, service: str) -> list[str]:
        """The service's health check as a command line (CMD-SHELL runs through sh -c)."""
        test = self.services[service]["healthcheck"]["test"]
        if isinstance(test, str):
            return ["sh", "-c", test]
        kind, *rest = test
        if kind == "CMD-SHELL":
            return ["sh", "-c", " ".join(rest)]
        assert kind == "CMD", f"{service}: healthcheck test starts with {kind}"
        return list(rest)


def command_lines(argv: list[str]) -> list[list[str]]:
    """ARGV itself, or the commands of `sh -c "A && B && …"` (no other shell syntax allowed:
    each part must be a plain command line that can be checked on its own)."""
    if argv[:2] != ["sh", "-c"]:
        return [argv]
    assert len(argv) == 3, f"sh -c takes one script: {argv}"
    lexer = shlex.shlex(argv[2], posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lines: list[list[str]] = [[]]
    for token in lexer:
        if token == "&&":
            lines.append([])
            continue
        assert not set(token) & set(lexer.punctuation_chars), \
            f"only `&&` between plain commands: {argv[2]!r}"
        lines[-1].append(token)
    assert all(lines), f"empty command in {argv[2]!r}"
    return lines


def duration_seconds(value: str) -> float:
    """A compose duration (`1m30s`, `150s`, `2h`) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(value))
    assert parts and "".join(n + u for n, u in parts) == str(value), f"bad duration {value!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def replace_option(argv: list[str], option: str, value: str) -> list[str]:
    """argv with OPTION's value replaced (`--opt value` or `--opt=value`), or appended."""
    out = list(argv)
    for i, part in enumerate(out):
        if part == option:
            out[i + 1] = value
            return out
        if part.startswith(option + "="):
            out[i] = f"{option}={value}"
            return out
    return [*out, f"{option}={value}"]


# --- private Postgres and Redis -----------------------------------------------------------

@contextmanager
def empty_database() -> Iterator[str]:
    """A new, empty Postgres database (never migrated: `migrate` has to do it)."""
    with fresh_database(POSTGRES_ADMIN_URL, f"vf_compose_{secrets.token_hex(4)}") as url:
        yield url


@contextmanager
def private_redis() -> Iterator[str]:
    """A Redis database number nobody else uses (claimed like tests/conftest.py's), flushed
    afterwards: no worker of another fleet in this session consumes our queues."""
    for number in range(15, 0, -1):
        client = redis_lib.Redis.from_url(f"{REDIS_SERVER_URL}/{number}")
        try:
            if client.dbsize() == 0 and client.set("vf-test-claim", "1", nx=True):
                try:
                    yield f"{REDIS_SERVER_URL}/{number}"
                finally:
                    client.flushdb()
                return
        finally:
            client.close()
    raise AssertionError("no empty Redis database number (1-15) is free for the test")


# --- the services as local processes ----------------------------------------------------------

def localise(env: Mapping[str, str], database_url: str, redis_url: str, data_root: Path,
             s3_endpoint_url: str | None = None) -> dict[str, str]:
    """A container's environment mapped onto this machine: the `postgres` and `redis`
    services become our private database and Redis number on 127.0.0.1, the `minio` service
    our S3 server (S3_ENDPOINT_URL, when given), /data a folder."""
    local = {}
    for name, value in env.items():
        if name == "DATABASE_URL" and value:
            url = urlsplit(value)
            assert (url.hostname, url.port or 5432) == (DATABASE_SERVICE, 5432), value
            # Ours, in the compose file's own form (a libpq URL psycopg takes as it is).
            value = url.scheme + "://" + database_url.split("://", 1)[1]
        elif name in ("REDIS_URL", "CELERY_BROKER_URL") and value:
            url = urlsplit(value)
            assert (url.hostname, url.port or 6379) == (REDIS_SERVICE, 6379), value
            value = redis_url
        elif name == "S3_ENDPOINT_URL" and value and s3_endpoint_url is not None:
            url = urlsplit(value)
            assert (url.hostname, url.port) == (S3_SERVICE, S3_SERVICE_PORT), value
            value = s3_endpoint_url
        elif value == CONTAINER_DATA or value.startswith(CONTAINER_DATA + "/"):
            value = str(data_root) + value[len(CONTAINER_DATA):]
        local[name] = value
    return local


def process_env(service_env: Mapping[str, str]) -> dict[str, str]:
    """The host's environment without any videofactory setting, plus the service's own, with
    this virtual environment first on PATH (so `videofactory`, `celery`, `python` are ours)."""
    env = {key: value for key, value in os.environ.items()
           if key not in set(app_settings_names()) and not key.startswith(("FLOWER_", "CELERY_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HOSTNAME"] = socket.gethostname()  # what Docker sets in a container
    env.update(service_env)
    return env


@dataclass
class LocalFleet:
    """The compose services running here; `logs` keeps each one's output."""

    compose: Compose
    root: Path
    database_url: str
    redis_url: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    envs: dict[str, dict[str, str]] = field(default_factory=dict)
    argvs: dict[str, list[str]] = field(default_factory=dict)
    api_port: int = 0
    api_key: str = ""
    s3: S3Server | None = None  # stands in for the `minio` service

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env_for(self, service: str) -> dict[str, str]:
        if service not in self.envs:
            local = localise(self.compose.environment(service), self.database_url,
                             self.redis_url, self.root / "data",
                             self.s3.endpoint_url if self.s3 else None)
            self.envs[service] = process_env(local)
        return self.envs[service]

    def start(self, service: str, argv: list[str] | None = None) -> subprocess.Popen:
        """Start a service's command line (or ARGV, the same with local ports) here."""
        argv = argv or self.compose.command(service)
        env = self.env_for(service)
        # `sh -c "A && B"` runs as it is; each of its commands must be one of ours.
        for line in command_lines(argv):
            executable = shutil.which(line[0], path=env["PATH"])
            assert executable and Path(executable).parent == VENV_BIN, (line[0], executable)
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{service}.log").open("wb") as log:
            process = subprocess.Popen(argv, env=env, cwd=self.root, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[service] = process
        self.argvs[service] = argv
        return process

    def run_once(self, service: str, timeout: float = 180) -> None:
        """Start a one-shot service (migrate) and wait for it to exit 0."""
        process = self.start(service)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{service} still running after {timeout}s\n"
                                 + self.tail_logs()) from None
        assert code == 0, f"{service} exited {code}\n" + self.tail_logs()

    def start_api(self) -> None:
        self.api_port = free_port()
        self.start("api", replace_option(self.compose.command("api"), "--port",
                                         str(self.api_port)))
        deadline = time.monotonic() + 90
        while True:
            self.assert_running("api")
            try:
                if requests.get(f"{self.base_url}/v1/health", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the api did not become healthy\n" + self.tail_logs())
            time.sleep(0.3)

    def wait_for_workers(self, pools: list[str]) -> None:
        _wait_for_workers(self.env_for("worker-cpu"), pools, timeout=120)

    def assert_running(self, service: str) -> None:
        code = self.processes[service].poll()
        assert code is None, f"{service} exited {code}\n" + self.tail_logs()

    def create_account(self, name: str = "compose-shop") -> str:
        """`videofactory accounts create` as an operator runs it in the api container."""
        result = subprocess.run(["videofactory", "accounts", "create", name],
                                env=self.env_for("api"), cwd=self.root, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        self.api_key = result.stdout.strip().splitlines()[-1]
        return self.api_key

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def submit_draft(self, idea: str) -> str:
        response = requests.post(f"{self.base_url}/v1/jobs", headers=self.headers(), timeout=10,
                                 json={"source": idea_source(idea),
                                       "quality": "draft"})
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def wait_for_job(self, job_id: str, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            body = requests.get(f"{self.base_url}/v1/jobs/{job_id}", headers=self.headers(),
                                timeout=10).json()
            if body.get("status") in ("succeeded", "failed"):
                return body
            time.sleep(0.5)
        raise AssertionError(f"job {job_id} unfinished after {timeout}s: {body}\n"
                             + self.tail_logs())

    def run_healthcheck(self, service: str, replacements: Mapping[str, str] | None = None
                        ) -> subprocess.CompletedProcess[str]:
        """The service's compose health check, run here beside its process."""
        argv = self.compose.healthcheck_argv(service)
        for old, new in (replacements or {}).items():
            argv = [part.replace(old, new) for part in argv]
        return subprocess.run(argv, env=self.env_for(service), cwd=self.root,
                              capture_output=True, text=True, timeout=60)

    def bucket_keys(self, service: str = "api", below: str = "") -> list[str]:
        """Keys in the service's MEDIA_URL bucket below its prefix (and BELOW), sorted."""
        assert self.s3 is not None, "this fleet runs without an S3 server"
        bucket, prefix = split_media_url(self.env_for(service)["MEDIA_URL"])
        start = "/".join(part for part in (prefix, below) if part)
        pages = self.s3.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{start}/" if start else "")
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def read_object(self, key: str, service: str = "api") -> bytes:
        """An object of the service's MEDIA_URL bucket, by its full key."""
        assert self.s3 is not None, "this fleet runs without an S3 server"
        bucket, _ = split_media_url(self.env_for(service)["MEDIA_URL"])
        body = self.s3.client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return data

    def tail_logs(self) -> str:
        if not self.logs.exists():
            return ""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.logs.glob("*.log")))

    def stop(self) -> None:
        _stop(list(self.processes.values()))


def reconcile_command_exists() -> bool:
    """Whether `videofactory --help` lists a `reconcile` command."""
    result = subprocess.run([str(VENV_BIN / "videofactory"), "--help"], capture_output=True,
                            text=True, timeout=60, check=True)
    commands = result.stdout.split("Commands:", 1)[-1]
    return any(line.split()[:1] == ["reconcile"] for line in commands.splitlines())


@contextmanager
def s3_service(root: Path) -> Iterator[S3Server]:
    """moto's S3 server in the place of the `minio` service: a process of its own for this
    fleet (so its bucket, named by the compose file, is new and nobody else's), log in
    ROOT/logs/moto.log."""
    (root / "logs").mkdir(parents=True, exist_ok=True)
    server = start_s3_server(root / "logs" / "moto.log")
    try:
        yield server
    finally:
        stop_s3_server(server)


@contextmanager
def local_fleet(root: Path, services: tuple[str, ...] = LOCAL_SERVICES) -> Iterator[LocalFleet]:
    """migrate (to completion), then SERVICES from docker-compose.yml, as local processes on a
    new empty database, a private Redis number and a new S3 server (for `minio`, with no
    bucket yet: migrate's `media init` creates it); stopped (process groups) on exit."""
    compose = Compose.load()
    with empty_database() as database_url, private_redis() as redis_url, \
            s3_service(root) as s3:
        fleet = LocalFleet(compose, root, database_url, redis_url, s3=s3)
        try:
            fleet.run_once("migrate")
            if "api" in services:
                fleet.start_api()
            for service in services:
                if service != "api":
                    fleet.start(service)
            pools = [s.removeprefix("worker-") for s in services if s.startswith("worker-")]
            if pools:
                fleet.wait_for_workers(pools)
            yield fleet
        finally:
            fleet.stop()
