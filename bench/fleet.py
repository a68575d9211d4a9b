"""Start and stop a fleet of real `videofactory` processes (benchmarks and e2e tests).

Each process gets its own session, so stopping it stops its children too (Celery's pool
processes, the reconciler). Postgres databases and Redis DB numbers are claimed fresh and
given back at the end, so a run never touches anyone else's data.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

VIDEOFACTORY = str(Path(sys.executable).with_name("videofactory"))
# The variables a fleet sets itself; inherited values would point it at someone else's data.
FLEET_VARS = ("DATABASE_URL", "REDIS_URL", "DATA_DIR", "MEDIA_ROOT", "EXPORT_DIR",
              "REDIS_KEY_PREFIX", "API_PORT")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fleet_env(database_url: str, redis_url: str, root: Path, **extra: str) -> dict[str, str]:
    """This process's environment pointed at one database, one Redis DB and one folder."""
    env = {k: v for k, v in os.environ.items() if k not in FLEET_VARS}
    env.update({"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                "DATA_DIR": str(root / "data"), "MEDIA_ROOT": str(root / "media"),
                "EXPORT_DIR": str(root / "exports"), "REDIS_KEY_PREFIX": "vf-fleet", **extra})
    return env


def run(args: list[str], env: Mapping[str, str], timeout: float = 120) -> str:
    """Run a `videofactory` command to completion and return its stdout."""
    done = subprocess.run([VIDEOFACTORY, *args], env=dict(env), capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"videofactory {' '.join(args)} failed ({done.returncode}):\n"
                           f"{done.stderr[-2000:]}")
    return done.stdout


def start(args: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a `videofactory` command in its own process group, output into `log`."""
    with log.open("wb") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([VIDEOFACTORY, *args], env=dict(env), stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop(processes: list[subprocess.Popen[bytes]], grace: float = 20) -> None:
    """SIGTERM each process group, then SIGKILL what is still there after `grace` seconds."""
    for proc in processes:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in processes:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_for_workers(env: Mapping[str, str], names: list[str], timeout: float = 60) -> None:
    """Return once a worker named `<name>@…` answers a ping for each name."""
    from store.settings import Settings
    from worker.celery_app import create_celery

    app = create_celery(Settings.from_env(env))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                replies = app.control.ping(timeout=1.0) or []
            except Exception:  # noqa: BLE001 - a broker that just restarted drops old sockets
                time.sleep(0.5)
                continue
            answered = {node for reply in replies for node in reply}
            if all(any(node.startswith(name + "@") for node in answered) for name in names):
                return
        raise RuntimeError(f"workers {names} did not answer a ping within {timeout}s")
    finally:
        app.close()


def wait_for_http(url: str, timeout: float = 60) -> None:
    """Return once `url` answers 200."""
    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200 within {timeout}s")
        time.sleep(0.3)


def tree_cpu_seconds(pids: list[int]) -> float:
    """CPU seconds used by these processes and all their descendants, living or reaped."""
    stats: dict[int, list[str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:  # fields after the command name: state, ppid, …, utime at index 11
            stats[int(stat.parent.name)] = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            continue
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    ticks, stack = 0, list(pids)
    while stack:
        pid = stack.pop()
        if pid in stats:
            # utime + stime, plus cutime + cstime: the children it has waited for (ffmpeg).
            ticks += sum(int(value) for value in stats[pid][11:15])
        stack.extend(children.get(pid, []))
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine since boot; None off Linux."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def machine_cores(before: tuple[int, int] | None, after: tuple[int, int] | None
                  ) -> float | None:
    """Mean busy cores of the whole machine between two `cpu_ticks()` readings."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (os.cpu_count() or 1) * (after[0] - before[0]) / (after[1] - before[1])


@contextmanager
def fresh_database(admin_url: str, name: str) -> Iterator[str]:
    """An empty Postgres database (its SQLAlchemy URL), dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    from store.settings import normalise_database_url

    admin = make_url(normalise_database_url(admin_url))

    def execute(sql: str) -> None:
        with psycopg.connect(host=admin.host, port=admin.port or 5432, user=admin.username,
                             password=admin.password, dbname=admin.database, autocommit=True,
                             connect_timeout=5) as connection:
            connection.execute(sql)

    execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def private_redis_db(server_url: str) -> Iterator[str]:
    """An empty Redis DB number of our own (its URL), flushed afterwards."""
    import redis

    for number in range(15, 0, -1):
        client = redis.Redis.from_url(f"{server_url}/{number}")
        # The same claim key as the test fixtures', so parallel users never share a number.
        if client.dbsize() == 0 and client.set("vf-test-claim", "1", nx=True):
            try:
                yield f"{server_url}/{number}"
            finally:
                client.flushdb()
                client.close()
            return
        client.close()
    raise RuntimeError(f"no empty Redis database number (1-15) on {server_url}")
