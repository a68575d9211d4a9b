"""Scaling benchmark: one batch of short jobs on 1, 2 and 4 cpu workers (and 1 gpu worker).

Run: .venv/bin/python bench/scale.py [--workers 1 2 4] [--jobs 6] [--quality draft]
It starts its own fleet: a fresh Postgres database (dropped at the end), a private Redis DB
(flushed), `videofactory serve`, one gpu worker and N cpu workers, each `--concurrency 1`.
For each N it submits the same batch through the API, each job in its own project, waits
until all succeeded and reads their job_stages rows: wall time, time to the first finished
video, jobs per minute, how busy the machine's cores were, and per stage the mean wait in the
queue (from the moment the stage could run: the previous stage's end, or the job's creation)
and the mean run time.

With --hosts it runs the fleet on hosts that share nothing but a wire (network namespaces,
tests/support/netns.py; needs root, exits 2 without): a db host with Postgres, Redis and an S3
server (moto), an api host (`videofactory serve` and one `videofactory reconcile`), a gpu
worker host and 1, then 2, cpu worker hosts, each host with its own DATA_DIR and all media in
the bucket (MEDIA_URL=s3://…, S3_ENDPOINT_URL on the db host). Besides the figures above it
prints the mean cores each host kept busy: namespaces separate networks, not CPUs, so on a
small machine a second cpu host adds a worker but no cores.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fleet import (  # noqa: E402
    VIDEOFACTORY,
    cpu_ticks,
    fleet_env,
    free_port,
    fresh_database,
    machine_cores,
    private_redis_db,
    run,
    start,
    stop,
    tree_cpu_seconds,
    wait_for_http,
    wait_for_workers,
)
from pipeline.sequence import STAGE_NAMES  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
REDIS_SERVER_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
IDEAS = (
    "Why cold brew tastes smoother than hot coffee",
    "Three habits that make mornings easier",
    "How bees find their way home",
    "Why bread goes stale overnight",
    "The trick to folding a fitted sheet",
    "What makes a good night of sleep",
)


@dataclass(frozen=True)
class Figures:
    """What one batch on N cpu workers measured."""

    cpu_workers: int
    wall_s: float
    first_video_s: float  # from the first submit until the first job succeeded
    jobs_per_minute: float
    cpu_s_per_job: float  # CPU seconds of the workers and their ffmpeg children, per job
    fleet_cores: float  # mean cores the workers and their ffmpeg children kept busy
    machine_cores: float | None  # mean busy cores of the whole machine, others included
    wait_s: dict[str, float]  # stage -> mean seconds it waited for a worker
    run_s: dict[str, float]  # stage -> mean seconds it ran
    host_cores: dict[str, float] | None = None  # --hosts: host -> mean cores it kept busy


# Starts the gpu worker and N cpu workers; returns them and their node names (before the @).
Launch = Callable[[int], tuple[list[subprocess.Popen[bytes]], list[str]]]


def _worker_argv(name: str) -> list[str]:
    """`videofactory worker` arguments of one worker: pool from the name, one process."""
    return ["worker", "--pool", name[:3], "--name", name, "--concurrency", "1", "--no-reconcile"]


def _local_workers(env: Mapping[str, str], logs: Path) -> Launch:
    """Workers as processes on this machine, all with the same environment."""
    def launch(cpu_workers: int) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
        names = ["gpu-bench"] + [f"cpu-bench{i}" for i in range(1, cpu_workers + 1)]
        return ([start(_worker_argv(name), env, logs / f"{cpu_workers}-{name}.log")
                 for name in names], names)

    return launch


def _netns_cpu_seconds(netns: str) -> float:
    """CPU seconds of the processes in a network namespace (with the children they reaped)."""
    pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True,
                          timeout=30).stdout.split()
    ticks = 0
    for pid in pids:  # every descendant is in the namespace too: no tree walk, no double count
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _batch(env: dict[str, str], base_url: str, api_key: str, cpu_workers: int,
           args: argparse.Namespace, launch: Launch,
           hosts: Mapping[str, str] | None = None) -> Figures:
    """Start the workers, run the batch, stop the workers, and measure.

    `hosts`: host name -> network namespace, whose CPU use is measured per host.
    """
    workers, names = launch(cpu_workers)
    hosts = hosts or {}
    try:
        wait_for_workers(env, names)
        pids = [worker.pid for worker in workers]
        host_cpu_s = {name: _netns_cpu_seconds(netns) for name, netns in hosts.items()}
        ticks, fleet_cpu_s, started = cpu_ticks(), tree_cpu_seconds(pids), time.monotonic()
        job_ids = []
        for i in range(args.jobs):
            answer = requests.post(
                f"{base_url}/v1/jobs", headers={"Authorization": f"Bearer {api_key}"},
                json={"source": {"type": "idea", "idea": IDEAS[i % len(IDEAS)]},
                      "quality": args.quality}, timeout=30)
            answer.raise_for_status()
            job_ids.append(answer.json()["id"])
        _wait_until_done(env["DATABASE_URL"], job_ids, args.timeout)
        # Counted before the workers stop: their pool processes still hold ffmpeg's times.
        fleet_cpu_s = tree_cpu_seconds(pids) - fleet_cpu_s
        elapsed = time.monotonic() - started
        machine = machine_cores(ticks, cpu_ticks())
        host_cores = {name: (_netns_cpu_seconds(netns) - host_cpu_s[name]) / elapsed
                      for name, netns in hosts.items()}
    finally:
        stop(workers, grace=30)
    wall, first, waits, runs = _stage_times(env["DATABASE_URL"], job_ids)
    return Figures(cpu_workers, wall, first, 60 * len(job_ids) / wall, fleet_cpu_s / len(job_ids),
                   fleet_cpu_s / elapsed, machine, waits, runs, host_cores or None)


def _wait_until_done(database_url: str, job_ids: list[str], timeout: float) -> None:
    from sqlalchemy import select

    from store.db import make_engine
    from store.models import Job

    engine = make_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                rows = connection.execute(select(Job.id, Job.status, Job.error_message)
                                          .where(Job.id.in_(job_ids))).all()
            failed = [row for row in rows if row.status == "failed"]
            if failed:
                raise RuntimeError(f"job {failed[0].id} failed: {failed[0].error_message}")
            if all(row.status == "succeeded" for row in rows):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the batch did not finish within {timeout:.0f} s")
    finally:
        engine.dispose()


def _stage_times(database_url: str, job_ids: list[str]
                 ) -> tuple[float, float, dict[str, float], dict[str, float]]:
    """Wall time of the batch, until its first video, and per stage mean queue wait and run."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session, selectinload

    from store.db import make_engine
    from store.models import Job

    engine = make_engine(database_url)
    waits: dict[str, list[float]] = {name: [] for name in STAGE_NAMES}
    runs: dict[str, list[float]] = {name: [] for name in STAGE_NAMES}
    try:
        with Session(engine) as session:
            found = session.scalars(select(Job).where(Job.id.in_(job_ids))
                                    .options(selectinload(Job.stages))).all()
            for job in found:
                runnable = job.created_at
                for stage in job.stages:  # in sequence order
                    waits[stage.name].append((stage.started_at - runnable).total_seconds())
                    runs[stage.name].append((stage.finished_at - stage.started_at)
                                            .total_seconds())
                    runnable = stage.finished_at
            began = min(job.created_at for job in found)
            wall = (max(job.finished_at for job in found) - began).total_seconds()
            first = (min(job.finished_at for job in found) - began).total_seconds()
    finally:
        engine.dispose()
    return (wall, first, {name: sum(v) / len(v) for name, v in waits.items()},
            {name: sum(v) / len(v) for name, v in runs.items()})


def _print(results: list[Figures], header: str, label: str = "cpu_workers") -> None:
    cores = os.cpu_count() or 1
    print(f"{header}, {cores} cores")
    base = results[0]
    print(f"{label:>11} {'wall_s':>8} {'first_s':>8} {'jobs/min':>9} {'speed-up':>9} "
          f"{'cpu_s/job':>9} {'fleet_cores':>11} {'machine_cores':>13} {'busy':>5}")
    for fig in results:
        if fig.machine_cores is not None:
            machine = f"{fig.machine_cores:13.2f} {100 * fig.machine_cores / cores:4.0f}%"
        else:
            machine = f"{'-':>13} {'-':>5}"
        print(f"{fig.cpu_workers:11d} {fig.wall_s:8.1f} {fig.first_video_s:8.1f} "
              f"{fig.jobs_per_minute:9.2f} "
              f"{fig.jobs_per_minute / base.jobs_per_minute:9.2f} {fig.cpu_s_per_job:9.1f} "
              f"{fig.fleet_cores:11.2f} "
              f"{machine}")
    print("\nper stage, mean seconds: queue wait / run")
    print(f"{label:>11} " + " ".join(f"{name:>15}" for name in STAGE_NAMES))
    for fig in results:
        cells = " ".join(f"{f'{fig.wait_s[n]:.1f} / {fig.run_s[n]:.1f}':>15}"
                         for n in STAGE_NAMES)
        print(f"{fig.cpu_workers:11d} {cells}")
    if all(fig.host_cores for fig in results):
        names = list(results[-1].host_cores or {})
        print("\nper host, mean cores busy during the batch")
        print(f"{label:>11} " + " ".join(f"{name:>7}" for name in names))
        for fig in results:
            found = fig.host_cores or {}
            print(f"{fig.cpu_workers:11d} " + " ".join(
                f"{found[name]:7.2f}" if name in found else f"{'-':>7}" for name in names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4],
                        help="cpu worker counts to try (the first is the speed-up's base)")
    parser.add_argument("--jobs", type=int, help="jobs in the batch (default: 6, 4 with --hosts)")
    parser.add_argument("--quality", default="draft", choices=["draft", "standard", "high"])
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per batch")
    parser.add_argument("--hosts", action="store_true",
                        help="1 and 2 cpu hosts in network namespaces, media in S3 (root)")
    args = parser.parse_args()
    if args.hosts:
        args.jobs = args.jobs or 4
        _hosts_main(args)
        return
    args.jobs = args.jobs or 6

    with tempfile.TemporaryDirectory(prefix="vf-scale-") as folder, \
            fresh_database(POSTGRES_ADMIN_URL, f"vf_scale_{secrets.token_hex(4)}") as db_url, \
            private_redis_db(REDIS_SERVER_URL) as redis_url:
        root = Path(folder)
        logs = root / "logs"
        logs.mkdir()
        port = free_port()
        env = fleet_env(db_url, redis_url, root, API_PORT=str(port), REDIS_KEY_PREFIX="vf-scale")
        run(["db", "upgrade"], env)
        api_key = run(["accounts", "create", "scale-bench"], env).strip().splitlines()[-1]
        api = start(["serve"], env, logs / "api.log")
        try:
            wait_for_http(f"http://127.0.0.1:{port}/v1/health")
            results = []
            for n in args.workers:
                results.append(_batch(env, f"http://127.0.0.1:{port}", api_key, n, args,
                                      _local_workers(env, logs)))
                print(f"  N={n}: {results[-1].wall_s:.1f} s", file=sys.stderr, flush=True)
        except Exception:
            for log in sorted(logs.glob("*.log")):  # the folder goes with the fleet
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}",
                      file=sys.stderr)
            raise
        finally:
            stop([api])
    _print(results, f"{args.jobs} jobs ({args.quality}), 1 gpu worker, N cpu workers "
                    "(--concurrency 1)")


# --- --hosts: the fleet on hosts in network namespaces -------------------------------------

BUCKET = "vf-scale-bench"
API_PORT = 8000


def _on_host(host: Any, args: list[str], env: Mapping[str, str], timeout: float = 120) -> str:
    """Run a `videofactory` command on a host to completion and return its stdout."""
    done = host.run([VIDEOFACTORY, *args], timeout=timeout, env=dict(env))
    if done.returncode != 0:
        raise RuntimeError(f"videofactory {' '.join(args)} on {host.name} failed "
                           f"({done.returncode}):\n{done.stderr[-2000:]}")
    return str(done.stdout)


def _hosts_main(args: argparse.Namespace) -> None:
    from tests.support.netns import (
        Network,
        namespaces_available,
        services_available,
        start_postgres,
        start_redis,
        start_s3,
    )
    from tests.support.s3 import ACCESS_KEY, SECRET_KEY, s3_client

    if reason := namespaces_available() or services_available():
        print(f"scale.py --hosts: {reason}", file=sys.stderr)
        raise SystemExit(2)
    # The postgres user must reach its cluster's folder: not inside our private temp folder.
    pg_folder = Path("/tmp") / f"vf-scale-pg-{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory(prefix="vf-scale-hosts-") as folder:
        root = Path(folder)
        logs = root / "logs"
        logs.mkdir()
        try:
            with Network(logs) as network:
                db = network.add_host("db")
                api = network.add_host("api")
                gpu = network.add_host("gpu")
                cpus = [network.add_host("cpu1"), network.add_host("cpu2")]
                postgres, redis, s3 = start_postgres(db, pg_folder), start_redis(db), start_s3(db)

                def env_for(host: Any) -> dict[str, str]:
                    """One host's environment: the db host's services, its own DATA_DIR."""
                    env = fleet_env(postgres.url, redis.url, root / host.name,
                                    MEDIA_URL=f"s3://{BUCKET}/media",
                                    S3_ENDPOINT_URL=s3.url, AWS_ACCESS_KEY_ID=ACCESS_KEY,
                                    AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                                    EXPORT_DIR="",  # unset: exports go to the bucket
                                    API_HOST=api.address, API_PORT=str(API_PORT),
                                    REDIS_KEY_PREFIX="vf-scale")
                    # A host cannot reach a proxy of the root namespace.
                    return {k: v for k, v in env.items() if "proxy" not in k.lower()}

                client = s3_client(s3.url)
                client.create_bucket(Bucket=BUCKET)
                client.close()
                api_env = env_for(api)
                _on_host(api, ["db", "upgrade"], api_env)
                api_key = _on_host(api, ["accounts", "create", "scale-bench"],
                                   api_env).strip().splitlines()[-1]
                api.popen([VIDEOFACTORY, "serve"], api_env, logs / "api.log")
                api.popen([VIDEOFACTORY, "reconcile"], api_env, logs / "reconcile.log")
                base_url = f"http://{api.address}:{API_PORT}"
                wait_for_http(f"{base_url}/v1/health")

                def launch(cpu_hosts: int) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
                    # Every namespace has the machine's hostname, so names tell nodes apart.
                    placed = [(gpu, "gpu1")] + [(host, f"cpu{i}") for i, host
                                                in enumerate(cpus[:cpu_hosts], 1)]
                    return ([host.popen([VIDEOFACTORY, *_worker_argv(name)], env_for(host),
                                        logs / f"{cpu_hosts}-{host.name}.log")
                             for host, name in placed], [name for _, name in placed])

                hosts = {host.name: host.netns for host in (db, api, gpu, *cpus)}
                results = []
                for n in (1, 2):
                    results.append(_batch(api_env, base_url, api_key, n, args, launch, hosts))
                    print(f"  cpu hosts={n}: {results[-1].wall_s:.1f} s", file=sys.stderr,
                          flush=True)
        except Exception:
            for log in sorted(logs.glob("*.log")) + sorted(pg_folder.glob("*.log")):
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}",
                      file=sys.stderr)
            raise
        finally:
            shutil.rmtree(pg_folder, ignore_errors=True)
    _print(results, f"{args.jobs} jobs ({args.quality}), hosts in network namespaces: db "
                    "(Postgres, Redis, S3), api, 1 gpu worker host, N cpu worker hosts "
                    "(--concurrency 1), media in S3", label="cpu_hosts")


if __name__ == "__main__":
    main()
