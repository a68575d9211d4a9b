"""The render stage of W1 with its media in an S3 server versus in a local folder.

Run: .venv/bin/python bench/storage.py [--seconds 60] [--runs 3] [--warm] [--keep DIR]
Goal: s3 / local at most 1.10.

W1's inputs (../shared/bench/W1.md; built as bench/render_w1.py builds them, not timed) are
stored in media storage the way earlier stages and uploads leave them: script.json,
voiceover.json, voice.wav and captions.ass under the job's artifact keys, the stills as
uploads named in `options.media`, the music in a brand music folder. Then
`worker.stages.run_render` runs as a worker runs it: media through `RunMedia`, a fresh scratch
folder, then the staged video.mp4 promoted to its final key. Two stores, from the same
settings code a worker uses (`build_media`):

- local: LocalMediaStorage in a folder;
- s3: S3MediaStorage against a moto server process this script starts on 127.0.0.1, with a
  fresh cache folder each run, so every input is really downloaded (cold). With --warm the
  same store renders again right after, its cache full (only HEADs and the upload remain).

The variants alternate run by run (local first in odd runs, s3 first in even ones). Printed
per run: wall seconds of run_render, its CPU seconds (this process, ffmpeg, the S3 server), the
promotion after it, the seconds inside media calls (down = fetch/read_bytes, up = put_file,
lookup = exists/list), and `others`: the mean cores that processes not of this benchmark kept
busy meanwhile (on a shared machine, the noise). Then the medians and three s3/local ratios:
wall (the goal's), CPU, and "transfers only" (local's render plus the extra seconds s3 spent
in transfers), the last two less swayed by a busy machine than the wall ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fleet import cpu_ticks, machine_cores, tree_cpu_seconds  # noqa: E402
from bench.render_inputs import store_job, w1_staged  # noqa: E402
from bench.render_w1 import W1Parts, w1_parts  # noqa: E402
from store.media import MediaStorage, build_media  # noqa: E402
from store.settings import ENV_VARS, Settings  # noqa: E402
from tests.support.s3 import (  # noqa: E402
    ACCESS_KEY,
    SECRET_KEY,
    create_bucket,
    start_s3_server,
    stop_s3_server,
)
from worker.run_media import RunMedia  # noqa: E402
from worker.stages import JobInput, StageContext, run_render  # noqa: E402

GOAL = 1.10
JOB_ID = "w1storagebench"
# Media calls by what they move: whole objects down, whole objects up, or only metadata.
_KINDS = {"fetch": "download", "read_bytes": "download", "put_file": "upload",
          "put_bytes": "upload", "exists": "lookup", "stat": "lookup", "list": "lookup",
          "copy": "copy", "move": "copy", "delete": "copy"}


class TimedMedia:
    """Delegates to a store, adding up the seconds (and bytes) of each kind of call."""

    def __init__(self, media: MediaStorage) -> None:
        self.media = media
        self.seconds: Counter[str] = Counter()
        self.bytes: Counter[str] = Counter()

    def reset(self) -> None:
        self.seconds.clear()
        self.bytes.clear()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.media, name)
        kind = _KINDS.get(name)
        if kind is None:
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = attr(*args, **kwargs)
            finally:
                self.seconds[kind] += time.perf_counter() - started
            if name == "fetch":
                self.bytes[kind] += result.stat().st_size
            elif name == "put_file":
                self.bytes[kind] += Path(args[1]).stat().st_size
            return result

        return timed


def store_inputs(media: MediaStorage, parts: W1Parts, quality: str) -> JobInput:
    """Put W1's inputs where the stages and uploads leave them; the render stage's job."""
    return store_job(media, w1_staged(parts), quality, JOB_ID)


def settings_for(root: Path, **extra: str) -> Settings:
    """This machine's settings (ffmpeg, encoder threads) with media and data in `root`."""
    ours = {"DATA_DIR", "MEDIA_ROOT", "MEDIA_URL", "MEDIA_CACHE_DIR", "S3_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "EXPORT_DIR"}
    env = {v.name: os.environ[v.name] for v in ENV_VARS
           if v.name in os.environ and v.name not in ours}
    return Settings.from_env({**env, "DATA_DIR": str(root / "data"),
                              "MEDIA_ROOT": str(root / "media"), **extra})


@dataclass(frozen=True)
class Run:
    """One render stage: run_render's wall seconds, the promotion's, media call seconds."""

    render_s: float
    promote_s: float
    seconds: dict[str, float]
    bytes: dict[str, int]
    cpu_s: float  # CPU seconds of this process, its children (ffmpeg) and the S3 server
    others_cores: float | None  # mean cores busy with processes not ours meanwhile (noise)


def render_stage(settings: Settings, media: TimedMedia, job: JobInput, token: int,
                 ours: list[int]) -> Run:
    """run_render as execute_stage calls it: RunMedia, a fresh scratch folder, promotion.

    `ours`: this process and the S3 server, whose CPU time is no noise.
    """
    run_media = RunMedia(media, job.job_id, "render", token)  # type: ignore[arg-type]
    scratch = media.scratch_dir(job.job_id, "render")
    media.reset()
    try:
        ctx = StageContext(settings, run_media, scratch, on_progress=lambda fraction: None)
        ticks, cpu_s, started = cpu_ticks(), tree_cpu_seconds(ours), time.perf_counter()
        run_render(ctx, job)
        render_s = time.perf_counter() - started
        busy = machine_cores(ticks, cpu_ticks())
        cpu_s = tree_cpu_seconds(ours) - cpu_s
        others = None if busy is None else max(0.0, busy - cpu_s / render_s)
        seconds, moved = dict(media.seconds), dict(media.bytes)
    finally:
        media.discard_scratch(scratch)
    started = time.perf_counter()
    run_media.promote()
    promote_s = time.perf_counter() - started
    run_media.discard_staged()
    return Run(render_s, promote_s, seconds, moved, cpu_s, others)


def _row(run: int, variant: str, r: Run) -> str:
    down, up = r.seconds.get("download", 0.0), r.seconds.get("upload", 0.0)
    return (f"{run:3d} {variant:>8} {r.render_s:9.2f} {r.cpu_s:7.1f} {r.promote_s:9.2f} "
            f"{down:8.2f} "
            f"{up:8.2f} {r.seconds.get('lookup', 0.0):8.2f} {down + up:9.2f} "
            f"{100 * (down + up) / r.render_s:6.1f}% "
            f"{'-' if r.others_cores is None else f'{r.others_cores:.2f}':>7}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60, help="W1's duration")
    parser.add_argument("--runs", type=int, default=3, help="runs of each variant")
    parser.add_argument("--quality", default="standard", choices=["draft", "standard", "high"])
    parser.add_argument("--warm", action="store_true",
                        help="after each cold s3 run, render again with the cache full")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="work in DIR and leave it (inputs, local media, caches, moto log)")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="vf-storage-"))
    root.mkdir(parents=True, exist_ok=True)
    server = start_s3_server(root / "moto.log")
    try:
        parts = w1_parts(root / "inputs", args.seconds)
        bucket = create_bucket(server.client)
        local_settings = settings_for(root / "local")
        local = TimedMedia(build_media(local_settings))
        local_job = store_inputs(local, parts, args.quality)

        def s3_store(run: int) -> tuple[Settings, TimedMedia]:
            settings = settings_for(root / "s3", MEDIA_URL=f"s3://{bucket}/w1",
                                    S3_ENDPOINT_URL=server.endpoint_url,
                                    AWS_ACCESS_KEY_ID=ACCESS_KEY,
                                    AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                                    MEDIA_CACHE_DIR=str(root / "s3" / f"cache-{run}"))
            return settings, TimedMedia(build_media(settings))

        _, s3 = s3_store(0)
        ours = [os.getpid(), server.process.pid]
        s3_job = store_inputs(s3, parts, args.quality)
        stored = {kind: size / 1e6 for kind, size in s3.bytes.items()}
        print(f"W1 {args.seconds} s ({args.quality}), {os.cpu_count()} cores, moto S3 at "
              f"{server.endpoint_url}; inputs stored: {stored.get('upload', 0):.1f} MB")
        print(f"{'run':>3} {'variant':>8} {'render_s':>9} {'cpu_s':>7} {'promote_s':>9} "
              f"{'down_s':>8} "
              f"{'up_s':>8} {'lookup_s':>8} {'media_s':>9} {'media%':>7} {'others':>7}")
        results: dict[str, list[Run]] = {"local": [], "s3": [], "s3-warm": []}
        for run in range(1, args.runs + 1):
            for variant in ("local", "s3") if run % 2 else ("s3", "local"):
                if variant == "local":
                    done = [("local", render_stage(local_settings, local, local_job, run, ours))]
                else:
                    settings, media = s3_store(run)  # a fresh cache folder: a cold start
                    done = [("s3", render_stage(settings, media, s3_job, run, ours))]
                    if args.warm:
                        done.append(("s3-warm", render_stage(settings, media, s3_job, run,
                                                             ours)))
                for name, result in done:
                    results[name].append(result)
                    print(_row(run, name, result), flush=True)
        moved = results["s3"][-1].bytes
        print(f"s3 cold run moves {moved.get('download', 0) / 1e6:.1f} MB down, "
              f"{moved.get('upload', 0) / 1e6:.1f} MB up")
        _summary(results)
    finally:
        stop_s3_server(server)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def _summary(results: dict[str, list[Run]]) -> None:
    def median(runs: list[Run], figure: Callable[[Run], float]) -> float:
        return statistics.median(figure(r) for r in runs)

    def media(r: Run) -> float:
        return r.seconds.get("download", 0.0) + r.seconds.get("upload", 0.0)

    local = results["local"]
    base, base_cpu = median(local, lambda r: r.render_s), median(local, lambda r: r.cpu_s)
    print(f"\nmedians: local render_s {base:.2f}, cpu_s {base_cpu:.1f}, "
          f"media transfers {median(local, media):.2f} s")
    for variant in ("s3", "s3-warm"):
        runs = results[variant]
        if not runs:
            continue
        render, cpu, moving = (median(runs, lambda r: r.render_s),
                               median(runs, lambda r: r.cpu_s), median(runs, media))
        ratio = render / base
        # What the transfers alone would add to local's render: robust to a busy machine.
        transfers = 1 + (moving - median(local, media)) / base
        print(f"medians: {variant} render_s {render:.2f}, cpu_s {cpu:.1f}, "
              f"media transfers {moving:.2f} s")
        print(f"  ratio {variant}/local: wall {ratio:.3f} "
              f"({'meets' if ratio <= GOAL else 'misses'} the goal of {GOAL:.2f}), "
              f"cpu {cpu / base_cpu:.3f}, "
              f"transfers only {transfers:.3f}")


if __name__ == "__main__":
    main()
