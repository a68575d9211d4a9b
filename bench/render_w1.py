"""Benchmark W1 ("product video", ../shared/bench/W1.md) at 15, 30 and 60 s.

Run: .venv/bin/python bench/render_w1.py [--durations 15 30 60] [--quality standard]
For each duration it builds the inputs (not timed), renders them with our renderer (timed,
with the peak RSS of the whole process tree), then measures the floor: ffmpeg encoding the
very same frames and audio from a lossless intermediate with the same encoder settings.

To time both sides with an outside tool, `--keep DIR` leaves each duration's inputs in
DIR/<seconds>/ and prints two commands: `--render-only DIR/<seconds>` (our render alone, from
the kept timeline) and the floor's ffmpeg encode.
"""

from __future__ import annotations

import argparse
import pickle
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.treerss import PeakTreeRss  # noqa: E402
from bench.w1_inputs import (  # noqa: E402
    STILL_SIZE,
    floor_argv,
    floor_seconds,
    make_music,
    make_stills,
    make_voiceover,
)
from pipeline.captions.build import build_captions  # noqa: E402
from pipeline.render.check import check_output  # noqa: E402
from pipeline.render.compositor import RenderOptions, output_preset, render_timeline  # noqa: E402
from pipeline.render.presets import Preset, get_preset  # noqa: E402
from pipeline.render.timeline import (  # noqa: E402
    END_CARD_SECONDS,
    MediaItem,
    Price,
    build_timeline,
)
from pipeline.types import Scene, SceneTiming, Script, Voiceover  # noqa: E402

SCENE_SECONDS = 6.0


@dataclass(frozen=True)
class W1Parts:
    """What W1's timeline is built from, as the render stage gets it from earlier stages."""

    script: Script
    voiceover: Voiceover
    voice_wav: Path
    captions_ass: Path
    stills: tuple[Path, ...]
    music: Path
    price: Price
    preset: Preset


def w1_parts(work: Path, seconds: int, preset: Preset | None = None) -> W1Parts:
    """Inputs of W1 at a duration: stills, voiceover and words, music, captions, script.

    W1 is defined on tiktok; a smaller `preset` (tests) gets stills scaled to its width.
    """
    preset = preset or get_preset("tiktok")
    scenes = max(1, round(seconds / SCENE_SECONDS))
    stills = make_stills(work / "stills", scenes,
                         round(STILL_SIZE * preset.width / get_preset("tiktok").width))
    # The end card takes the last seconds: the voice fills the rest.
    voice_seconds = seconds - END_CARD_SECONDS
    wav, words = make_voiceover(work / "voice", voice_seconds)
    music = make_music(work / "music", seconds)
    step = voice_seconds / scenes
    voice = Voiceover(
        duration=voice_seconds, sample_rate=22050, words=tuple(words),
        scenes=tuple(SceneTiming(i, i * step, (i + 1) * step) for i in range(scenes)),
        engine="espeak",
    )
    script = Script("The ceramic mug everyone wants",
                    tuple(Scene("", f"Scene {i + 1}") for i in range(scenes)),
                    "Shop now", ("#mug", "#kitchen"))
    captions = build_captions(words, preset, work / "captions")["ass"]
    return W1Parts(script, voice, wav, captions, tuple(stills), music,
                   Price("$29.99", "$19.99"), preset)


def _w1(work: Path, seconds: int) -> tuple:
    """W1's timeline at a duration, and its preset."""
    parts = w1_parts(work, seconds)
    timeline = build_timeline(parts.script, parts.voiceover, parts.voice_wav, parts.preset,
                              media=[MediaItem(path, "still") for path in parts.stills],
                              captions=parts.captions_ass, music=parts.music,
                              price=parts.price)
    return timeline, parts.preset


def _keep(root: Path, seconds: int, quality: str) -> None:
    """Inputs, timeline and floor source of one duration in root/<seconds>; print commands."""
    work = root / str(seconds)
    work.mkdir(parents=True, exist_ok=True)
    timeline, preset = _w1(work, seconds)
    (work / "timeline.pkl").write_bytes(pickle.dumps(timeline))
    reference = work / "reference.mp4"
    render_timeline(timeline, work / "render", reference, options=RenderOptions(quality=quality))
    floor = floor_argv(reference, output_preset(preset, quality), work / "floor")
    print(f"ours:  {sys.executable} {Path(__file__).resolve()} --render-only {work} "
          f"--quality {quality}")
    print(f"floor: {shlex.join(floor)}", flush=True)


def _render_only(work: Path, quality: str) -> None:
    """Render a kept timeline (the timed part of `ours_s`, nothing else)."""
    timeline = pickle.loads((work / "timeline.pkl").read_bytes())
    render_timeline(timeline, work / "render", work / "w1.mp4",
                    options=RenderOptions(quality=quality))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--durations", type=int, nargs="+", default=[15, 30, 60])
    parser.add_argument("--quality", default="standard", choices=["standard", "high"])
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the inputs and print the commands for an outside timer")
    parser.add_argument("--render-only", type=Path, metavar="DIR",
                        help="only render the timeline kept in DIR by --keep")
    args = parser.parse_args()
    if args.render_only:
        _render_only(args.render_only, args.quality)
        return
    if args.keep:
        for seconds in args.durations:
            _keep(args.keep, seconds, args.quality)
        return
    print(f"{'seconds':>7} {'ours_s':>8} {'floor_s':>8} {'ratio':>6} {'realtime':>9} "
          f"{'peak_rss_mb':>11}  checks")
    for seconds in args.durations:
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            timeline, preset = _w1(work, seconds)
            out = work / "w1.mp4"
            with PeakTreeRss() as rss:
                started = time.perf_counter()
                used = render_timeline(timeline, work / "render", out,
                                       options=RenderOptions(quality=args.quality))
                ours = time.perf_counter() - started
            problems = check_output(out, used, expected_duration=timeline.duration)
            floor = floor_seconds(out, output_preset(preset, args.quality), work / "floor")
            print(f"{seconds:7d} {ours:8.2f} {floor:8.2f} {ours / floor:6.2f} "
                  f"{timeline.duration / ours:8.2f}x {rss.peak_mb:11.0f}  "
                  f"{'ok' if not problems else '; '.join(problems)}", flush=True)


if __name__ == "__main__":
    main()
