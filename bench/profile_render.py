"""Where the render stage's time goes, phase by phase, for a job kept by render_paths.py.

Run: .venv/bin/python bench/render_paths.py --workloads W2 --durations 30 --keep DIR
     .venv/bin/python bench/profile_render.py DIR/W2/30 [--runs 3]

Every phase of `run_render` runs here on its own, one after the other, each timed in wall and
CPU seconds (user + system, this process and the tools it waited for):

- timeline: `job_timeline` (reads the stored artifacts);
- audio mix and prepare (stills fitted at 2x, backgrounds drawn), which the render overlaps;
- blends into clips made ahead: each clip's transition frames, fitted, into a raw file;
- pieces: each compositor process (as the render runs them) with its raw frames thrown
  away, summed by kind;
- text cards drawn, captions drawn: the card and caption images the encoder overlays;
- encoder: the encoder process fed the video's own frames, decoded from a lossless copy by a
  second process, with and without its text (card and caption images) and fade,
  and that feeder alone;
- floor: the same frames encoded with the preset's settings by one process (the benchmark's);
- check: `check_output`'s probe, audio bit rate (a packet list) and loudness measurement;
- whole: the render as it runs (pieces piped into the encoder), then the stage itself.

The composition's own cost is then pieces + (encoder - encoder without text) + the pipe, and
what the encoder leaves of the cores is floor CPU vs floor wall.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.render_paths import _load_job, render_only  # noqa: E402
from bench.storage import settings_for  # noqa: E402
from bench.w1_inputs import floor_argv  # noqa: E402
from pipeline.render.audio_mix import measure_loudness, mix_audio  # noqa: E402
from pipeline.render.caption_images import draw_caption_band  # noqa: E402
from pipeline.render.card_images import draw_card_images  # noqa: E402
from pipeline.render.check import _audio_bitrate  # noqa: E402
from pipeline.render.compositor import (  # noqa: E402
    _clip_audio,
    _prepare,
    blends_ahead,
    encoder_argv,
    merge_continuing,
    output_preset,
    piece_argv,
    plan_pieces,
    render_timeline,
)
from pipeline.tools import probe  # noqa: E402
from store.media import build_media  # noqa: E402
from worker.stages import StageContext, job_timeline, outputs_of  # noqa: E402

T = TypeVar("T")


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    tools = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + tools.ru_utime + tools.ru_stime


class Profile:
    """Rows of (phase, wall seconds, CPU seconds)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float]] = []

    def time(self, name: str, work: Callable[[], T]) -> T:
        """Run `work()`, add its row, return what it returned."""
        cpu, started = _cpu(), time.perf_counter()
        result = work()
        self.rows.append((name, time.perf_counter() - started, _cpu() - cpu))
        return result


def _run(argv: list[str], cwd: Path) -> None:
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=1800)


def _piped(feeder: list[str], consumer: list[str], cwd: Path) -> None:
    """feeder's stdout into consumer's stdin, as the compositor feeds its encoder."""
    first = subprocess.Popen(feeder, cwd=cwd, stdout=subprocess.PIPE)
    second = subprocess.Popen(consumer, cwd=cwd, stdin=first.stdout,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert first.stdout is not None
    first.stdout.close()
    if second.wait() != 0 or first.wait() != 0:
        raise RuntimeError(f"{feeder[0]} | {consumer[0]} failed")


def profile(folder: Path) -> list[tuple[str, float, float]]:
    """(phase, wall seconds, CPU seconds) of one pass over every phase."""
    settings = settings_for(folder)
    media = build_media(settings)
    job = _load_job(folder)
    work = folder / "profile"
    (work / "scratch").mkdir(parents=True, exist_ok=True)
    ctx = StageContext(settings, media, work / "scratch", on_progress=lambda f: None)
    p = Profile()
    timeline = p.time("timeline", lambda: job_timeline(ctx, job))
    preset = output_preset(timeline.preset, job.options.get("quality", "standard"))
    p.time("audio mix", lambda: mix_audio(
        timeline.voice, work / "mix.wav", duration=timeline.duration, music=timeline.music,
        music_gain_db=timeline.music_gain_db, clip_audio=_clip_audio(timeline),
        sample_rate=preset.audio_rate, aac_bitrate_kbps=preset.audio_bitrate_kbps,
        encoded_out=work / "mix.m4a", timeout=1800))
    visuals = p.time("prepare", lambda: _prepare(timeline, preset, work))
    plan = merge_continuing(plan_pieces(timeline, preset.fps), visuals, preset.fps)
    ahead = blends_ahead(plan, preset)
    p.time("blends into clips made ahead", lambda: [_run(argv, work) for argv in ahead if argv])
    by_kind: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for (piece, shown), made in zip(plan, ahead, strict=True):
        argv = piece_argv(piece, shown, preset, blend_made_ahead=bool(made))
        cpu, started = _cpu(), time.perf_counter()
        _run(argv, work)
        totals = by_kind[f"pieces: {shown[piece.index].visual.kind}"
                         f"{' + blend' if piece.blend_frames else ''}"]
        totals[0] += time.perf_counter() - started
        totals[1] += _cpu() - cpu
        totals[2] += piece.end - piece.start
    for name, (wall, cpu, frames) in sorted(by_kind.items()):
        p.rows.append((f"{name} ({frames:.0f} frames)", wall, cpu))
    p.rows.append(("pieces: all", sum(v[0] for v in by_kind.values()),
                   sum(v[1] for v in by_kind.values())))

    video = media.path(outputs_of("render", job.job_id)["video"])
    floor = floor_argv(video, preset, work / "floor")  # makes the lossless copy (untimed)
    feeder = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(work / "floor" / "floor_source.mkv"),
              "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"]
    cards = p.time("text cards drawn", lambda: draw_card_images(
        timeline.texts, preset, work, timeline.brand))
    band = None
    if timeline.captions is not None:
        captions = timeline.captions
        band = p.time("captions drawn", lambda: draw_caption_band(captions, preset, work))
    encoder = encoder_argv(timeline, preset, cards=cards, captions=band,
                           logo=None, audio="mix.m4a", out=str(work / "encoded.mp4"),
                           audio_encoded=True)
    plain = encoder_argv(dataclasses.replace(timeline, fade_out=0.0), preset,
                         cards=[], captions_ass=None, logo=None, audio="mix.m4a",
                         out=str(work / "plain.mp4"), audio_encoded=True)
    p.time("feeder alone (lossless → raw pipe)", lambda: _piped(feeder, ["cat"], work))
    p.time("feeder + encoder, text and fade", lambda: _piped(feeder, encoder, work))
    p.time("feeder + encoder, no text", lambda: _piped(feeder, plain, work))
    p.time("floor (one process)", lambda: _run(floor, work))

    out = work / "encoded.mp4"
    p.time("check: probe", lambda: probe(out))
    p.time("check: audio bit rate", lambda: _audio_bitrate(out, 0.0, ffprobe="ffprobe",
                                                            timeout=600))
    p.time("check: loudness", lambda: measure_loudness(out, timeout=600))
    p.time("whole render_timeline", lambda: render_timeline(timeline, work / "whole",
                                                            work / "whole.mp4"))
    stage = render_only(folder, token=99)
    p.rows.append(("whole render stage (run_render)", stage.render_s, stage.cpu_s))
    return p.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a job kept by render_paths.py --keep")
    parser.add_argument("--runs", type=int, default=1, help="passes; medians are printed")
    args = parser.parse_args()
    passes = [profile(args.folder) for _ in range(args.runs)]
    print(f"{'phase':<48} {'wall_s':>8} {'cpu_s':>8}")
    for i, (name, _, _) in enumerate(passes[0]):
        wall = statistics.median(p[i][1] for p in passes)
        cpu = statistics.median(p[i][2] for p in passes)
        print(f"{name:<48} {wall:8.2f} {cpu:8.2f}")


if __name__ == "__main__":
    main()
