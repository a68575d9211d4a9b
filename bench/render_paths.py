"""The render stage on every path (W1–W5, bench/render_inputs.py) against its x264 floor.

Run: .venv/bin/python bench/render_paths.py [--workloads W1 W2 W3 W3v W4 W5] [--durations 15 30 60]
     [--quality standard] [--runs 1] [--cache DIR]
Goals: ratio ≤ 1.3 at 15, 30 and 60 s; CPU ≤ 1.1× the floor's; peak RSS ≤ 800 MB and, with
--durations 15 180, the 180 s figure within 10 % of the 15 s one.

For each workload and duration the inputs are made (not timed) and stored as earlier stages
and uploads leave them; then `worker.stages.run_render` runs in a fresh process, as a worker
runs it: the timeline built from storage, the render, `check_output` (whose failure fails the
stage, and this benchmark), the upload of video.mp4. Figures, all from the same run:

- ours_s: wall seconds of run_render; ours_cpu_s: CPU seconds of the worker process and every
  tool it ran meanwhile; peak_rss_mb: the largest resident memory of that process tree;
- floor_s, floor_cpu_s: ffmpeg encoding the very frames and sound of our video from a
  lossless intermediate (FFV1 + PCM) with the preset's encoder settings (bench/w1_inputs.py);
- ratio = ours_s / floor_s, realtime = seconds of video / ours_s, cpu_ratio likewise.

With --runs N each figure is the median of N pairs (ours, then its floor), ratios pair by
pair. `--keep DIR` leaves each job in DIR/<workload>/<seconds>/ and prints two commands for an
outside timer: `--render-only` of that job and the floor's encode.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.render_inputs import WORKLOADS, store_job  # noqa: E402
from bench.storage import TimedMedia, render_stage, settings_for  # noqa: E402
from bench.treerss import PeakTreeRss  # noqa: E402
from bench.w1_inputs import floor_argv, floor_cost  # noqa: E402
from pipeline.render.compositor import output_preset  # noqa: E402
from pipeline.render.presets import DEFAULT_PRESET, get_preset  # noqa: E402
from store.media import build_media  # noqa: E402
from worker.stages import JobInput, outputs_of  # noqa: E402

GOAL_RATIO = 1.3
GOAL_CPU_RATIO = 1.1
GOAL_RSS_MB = 800.0
GOAL_RSS_FLAT = 0.10
JOB_ID = "renderpaths"


@dataclass(frozen=True)
class StageRun:
    """One render stage in its own process: wall and CPU seconds, peak RSS of its tree."""

    render_s: float
    cpu_s: float
    peak_rss_mb: float


@dataclass(frozen=True)
class Row:
    """A workload at one duration: medians over the runs."""

    workload: str
    seconds: int
    ours_s: float
    floor_s: float
    ratio: float
    ours_cpu_s: float
    floor_cpu_s: float
    cpu_ratio: float
    peak_rss_mb: float

    @property
    def realtime(self) -> float:
        """Seconds of video made per second of rendering."""
        return self.seconds / self.ours_s


def keep_job(folder: Path, workload: str, seconds: int, quality: str,
             cache: Path | None) -> JobInput:
    """Make a workload's inputs and store them in folder/media; the job in folder/job.json."""
    staged = WORKLOADS[workload](folder / "inputs", seconds, get_preset(DEFAULT_PRESET), cache)
    media = build_media(settings_for(folder))
    job = store_job(media, staged, quality, JOB_ID)
    (folder / "job.json").write_text(json.dumps(asdict(job)))
    return job


def _load_job(folder: Path) -> JobInput:
    return JobInput(**json.loads((folder / "job.json").read_text()))


def render_only(folder: Path, token: int = 1) -> StageRun:
    """The kept job's render stage, as a worker runs it (in this process)."""
    settings = settings_for(folder)
    media = TimedMedia(build_media(settings))
    with PeakTreeRss() as rss:
        run = render_stage(settings, media, _load_job(folder), token, [os.getpid()])
    return StageRun(run.render_s, run.cpu_s, rss.peak_mb)


def _stage_in_child(folder: Path, token: int) -> StageRun:
    """render_only in a fresh Python process, so nothing this one made counts against it."""
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--render-only",
                           str(folder), "--token", str(token), "--json"],
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"the render stage failed ({done.returncode}):\n"
                           f"{done.stderr[-3000:]}")
    return StageRun(**json.loads(done.stdout.strip().splitlines()[-1]))


def measure(folder: Path, job: JobInput, workload: str, seconds: int, quality: str,
            runs: int) -> Row:
    """`runs` pairs of (our render stage, the floor of its output), reduced to medians."""
    preset = output_preset(get_preset(job.preset), quality)
    video = build_media(settings_for(folder)).path(outputs_of("render", job.job_id)["video"])
    ours, floors = [], []
    for token in range(1, runs + 1):
        ours.append(_stage_in_child(folder, token))
        floors.append(floor_cost(video, preset, folder / "floor"))

    def median(values: list[float]) -> float:
        return statistics.median(values)

    return Row(workload, seconds,
               median([r.render_s for r in ours]), median([f.wall_s for f in floors]),
               median([r.render_s / f.wall_s for r, f in zip(ours, floors, strict=True)]),
               median([r.cpu_s for r in ours]), median([f.cpu_s for f in floors]),
               median([r.cpu_s / f.cpu_s for r, f in zip(ours, floors, strict=True)]),
               max(r.peak_rss_mb for r in ours))


HEADER = (f"{'workload':>8} {'seconds':>7} {'ours_s':>8} {'floor_s':>8} {'ratio':>6} "
          f"{'realtime':>8} {'ours_cpu_s':>10} {'floor_cpu_s':>11} {'cpu_ratio':>9} "
          f"{'peak_rss_mb':>11}")


def format_row(row: Row) -> str:
    """One line of the table, under HEADER."""
    return (f"{row.workload:>8} {row.seconds:7d} {row.ours_s:8.2f} {row.floor_s:8.2f} "
            f"{row.ratio:6.2f} {row.realtime:7.2f}x {row.ours_cpu_s:10.1f} "
            f"{row.floor_cpu_s:11.1f} {row.cpu_ratio:9.2f} {row.peak_rss_mb:11.0f}")


def verdicts(rows: list[Row]) -> list[str]:
    """Each goal the rows miss, in words (empty: all met)."""
    missed = []
    for row in rows:
        name = f"{row.workload} {row.seconds} s"
        if row.seconds <= 60 and row.ratio > GOAL_RATIO:
            missed.append(f"{name}: ratio {row.ratio:.2f} > {GOAL_RATIO}")
        if row.cpu_ratio > GOAL_CPU_RATIO:
            missed.append(f"{name}: cpu_ratio {row.cpu_ratio:.2f} > {GOAL_CPU_RATIO}")
        if row.peak_rss_mb > GOAL_RSS_MB:
            missed.append(f"{name}: peak RSS {row.peak_rss_mb:.0f} MB > {GOAL_RSS_MB:.0f}")
    by_workload: dict[str, dict[int, Row]] = {}
    for row in rows:
        by_workload.setdefault(row.workload, {})[row.seconds] = row
    for workload, by_seconds in by_workload.items():
        if 15 in by_seconds and 180 in by_seconds:
            short, long = by_seconds[15].peak_rss_mb, by_seconds[180].peak_rss_mb
            if long > short * (1 + GOAL_RSS_FLAT):
                missed.append(f"{workload}: peak RSS at 180 s {long:.0f} MB is more than "
                              f"{GOAL_RSS_FLAT:.0%} over 15 s's {short:.0f} MB")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="+", default=["W1", "W2", "W3", "W3v", "W4", "W5"],
                        choices=sorted(WORKLOADS))
    parser.add_argument("--durations", type=int, nargs="+", default=[15, 30, 60])
    parser.add_argument("--quality", default="standard", choices=["standard", "high"])
    parser.add_argument("--runs", type=int, default=1, help="pairs (ours, floor) per row")
    parser.add_argument("--cache", type=Path, metavar="DIR",
                        help="keep the generated stills and clips here between runs")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep each job in DIR/<workload>/<seconds> and print commands")
    parser.add_argument("--render-only", type=Path, metavar="DIR",
                        help="only run the render stage of the job kept in DIR")
    parser.add_argument("--token", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.render_only:
        result = render_only(args.render_only, args.token)
        if args.json:
            print(json.dumps(asdict(result)))
        else:
            print(f"render stage {result.render_s:.2f} s, {result.cpu_s:.1f} CPU s, "
                  f"peak RSS {result.peak_rss_mb:.0f} MB")
        return
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; preset {DEFAULT_PRESET}, "
          f"quality {args.quality}, {args.runs} run(s) a row", flush=True)
    if not args.keep:
        print(HEADER, flush=True)
    rows: list[Row] = []
    failed: list[str] = []
    for workload in args.workloads:
        for seconds in args.durations:
            if args.keep:
                folder = args.keep / workload / str(seconds)
                folder.mkdir(parents=True, exist_ok=True)
                _keep_and_print(folder, workload, seconds, args)
                continue
            with tempfile.TemporaryDirectory(prefix="vf-paths-") as temp:
                folder = Path(temp)
                started = time.perf_counter()
                job = keep_job(folder, workload, seconds, args.quality, args.cache)
                made = time.perf_counter() - started
                try:
                    row = measure(folder, job, workload, seconds, args.quality, args.runs)
                except RuntimeError as exc:  # a failed render stage: say so, go on
                    failed.append(f"{workload} {seconds} s: {str(exc).splitlines()[-1]}")
                    print(f"{workload:>8} {seconds:7d}   failed: {failed[-1]}", flush=True)
                    continue
            rows.append(row)
            print(f"{format_row(row)}   (inputs made in {made:.0f} s)", flush=True)
    if rows or failed:
        missed = failed + verdicts(rows)
        print("\ngoals: " + ("all met" if not missed else "missed:\n  " + "\n  ".join(missed)))


def _keep_and_print(folder: Path, workload: str, seconds: int,
                    args: argparse.Namespace) -> None:
    """Keep the job, render it once (so the floor has its frames) and print both commands."""
    job = keep_job(folder, workload, seconds, args.quality, args.cache)
    render_only(folder)
    preset = output_preset(get_preset(job.preset), args.quality)
    video = build_media(settings_for(folder)).path(outputs_of("render", job.job_id)["video"])
    floor = floor_argv(video, preset, folder / "floor")
    print(f"{workload} {seconds} s")
    print(f"  ours:  {sys.executable} {Path(__file__).resolve()} --render-only {folder}")
    print(f"  floor: {shlex.join(floor)}", flush=True)


if __name__ == "__main__":
    main()
