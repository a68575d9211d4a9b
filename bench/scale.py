"""Scaling benchmark: one batch of short jobs on 1, 2 and 4 cpu workers (and 1 gpu worker).

Run: .venv/bin/python bench/scale.py [--workers 1 2 4] [--jobs 6] [--quality draft]
It starts its own fleet: a fresh Postgres database (dropped at the end), a private Redis DB
(flushed), `videofactory serve`, one gpu worker and N cpu workers, each `--concurrency 1`.
For each N it submits the same batch through the API, each job in its own project, waits
until all succeeded and reads their job_stages rows: wall time, time to the first finished
video, jobs per minute, how busy the machine's cores were, and per stage the mean wait in the
queue (from the moment the stage could run: the previous stage's end, or the job's creation)
and the mean run time.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fleet import (  # noqa: E402
    fleet_env,
    free_port,
    fresh_database,
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


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine since boot; None off Linux."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _machine_cores(before: tuple[int, int] | None, after: tuple[int, int] | None
                   ) -> float | None:
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (os.cpu_count() or 1) * (after[0] - before[0]) / (after[1] - before[1])


def _batch(env: dict[str, str], base_url: str, api_key: str, cpu_workers: int,
           args: argparse.Namespace, logs: Path) -> Figures:
    """Start the workers, run the batch, stop the workers, and measure."""
    names = ["gpu-bench"] + [f"cpu-bench{i}" for i in range(1, cpu_workers + 1)]
    workers = [start(["worker", "--pool", name[:3], "--name", name, "--concurrency", "1",
                      "--no-reconcile"], env, logs / f"{cpu_workers}-{name}.log")
               for name in names]
    try:
        wait_for_workers(env, names)
        pids = [worker.pid for worker in workers]
        ticks, fleet_cpu_s, started = _cpu_ticks(), tree_cpu_seconds(pids), time.monotonic()
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
        machine = _machine_cores(ticks, _cpu_ticks())
    finally:
        stop(workers, grace=30)
    wall, first, waits, runs = _stage_times(env["DATABASE_URL"], job_ids)
    return Figures(cpu_workers, wall, first, 60 * len(job_ids) / wall, fleet_cpu_s / len(job_ids),
                   fleet_cpu_s / elapsed, machine, waits, runs)


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


def _print(results: list[Figures], args: argparse.Namespace) -> None:
    print(f"{args.jobs} jobs ({args.quality}), 1 gpu worker, N cpu workers "
          f"(--concurrency 1), {os.cpu_count()} cores")
    base = results[0]
    print(f"{'cpu_workers':>11} {'wall_s':>8} {'first_s':>8} {'jobs/min':>9} {'speed-up':>9} "
          f"{'cpu_s/job':>9} {'fleet_cores':>11} {'machine_cores':>13}")
    for fig in results:
        machine = f"{fig.machine_cores:13.2f}" if fig.machine_cores is not None else f"{'-':>13}"
        print(f"{fig.cpu_workers:11d} {fig.wall_s:8.1f} {fig.first_video_s:8.1f} "
              f"{fig.jobs_per_minute:9.2f} "
              f"{fig.jobs_per_minute / base.jobs_per_minute:9.2f} {fig.cpu_s_per_job:9.1f} "
              f"{fig.fleet_cores:11.2f} "
              f"{machine}")
    print("\nper stage, mean seconds: queue wait / run")
    print(f"{'cpu_workers':>11} " + " ".join(f"{name:>15}" for name in STAGE_NAMES))
    for fig in results:
        cells = " ".join(f"{f'{fig.wait_s[n]:.1f} / {fig.run_s[n]:.1f}':>15}"
                         for n in STAGE_NAMES)
        print(f"{fig.cpu_workers:11d} {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4],
                        help="cpu worker counts to try (the first is the speed-up's base)")
    parser.add_argument("--jobs", type=int, default=6, help="jobs in the batch")
    parser.add_argument("--quality", default="draft", choices=["draft", "standard", "high"])
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per batch")
    args = parser.parse_args()

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
                results.append(_batch(env, f"http://127.0.0.1:{port}", api_key, n, args, logs))
                print(f"  N={n}: {results[-1].wall_s:.1f} s", file=sys.stderr, flush=True)
        except Exception:
            for log in sorted(logs.glob("*.log")):  # the folder goes with the fleet
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}",
                      file=sys.stderr)
            raise
        finally:
            stop([api])
    _print(results, args)


if __name__ == "__main__":
    main()
