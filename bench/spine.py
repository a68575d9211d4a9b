"""Benchmark of the spine: each stage of one idea job, and the render against its floor.

Run: .venv/bin/python bench/spine.py
The floor is ffmpeg encoding the very same frames and audio with the same encoder settings
from a lossless intermediate made beforehand (not timed): what any renderer must pay.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.treerss import PeakTreeRss  # noqa: E402
from pipeline.captions import build_captions  # noqa: E402
from pipeline.presets import get_preset  # noqa: E402
from pipeline.render import render_video  # noqa: E402
from pipeline.script import generate_script  # noqa: E402
from pipeline.types import IdeaSource  # noqa: E402
from pipeline.voice import synthesize_script  # noqa: E402
from pipeline.voice_espeak import EspeakVoice  # noqa: E402

IDEA = "Why cold brew tastes smoother than hot coffee"


def _floor(video: Path, work: Path) -> float:
    """Seconds to encode the same frames/audio with the preset's settings from lossless."""
    preset = get_preset("tiktok")
    lossless = work / "lossless.mkv"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(video), "-c:v", "ffv1",
                    "-c:a", "pcm_s16le", str(lossless)], check=True)
    gop = round(preset.fps * preset.keyframe_seconds)
    argv = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(lossless),
            "-c:v", "libx264", "-preset", preset.video_preset, "-crf", str(preset.video_crf),
            "-maxrate", f"{preset.video_maxrate_kbps}k",
            "-bufsize", f"{2 * preset.video_maxrate_kbps}k", "-profile:v", "high",
            "-pix_fmt", "yuv420p", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", f"{preset.audio_bitrate_kbps}k", "-ar",
            str(preset.audio_rate), "-ac", "2", "-movflags", "+faststart",
            str(work / "floor.mp4")]
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - started


def main() -> None:
    preset = get_preset("tiktok")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        t0 = time.perf_counter()
        script = generate_script(IdeaSource(IDEA))
        t1 = time.perf_counter()
        voice = synthesize_script(script, EspeakVoice(), work / "voice.wav")
        t2 = time.perf_counter()
        captions = build_captions(voice.words, preset, work / "captions")
        t3 = time.perf_counter()
        with PeakTreeRss() as rss:
            plan = render_video(script, voice, work / "voice.wav", captions["ass"], preset,
                                work / "render", work / "out.mp4")
        t4 = time.perf_counter()
        render_s = t4 - t3
        floor_s = _floor(work / "out.mp4", work)
        print(f"video_s          {plan.duration:8.2f}")
        print(f"script_s         {t1 - t0:8.3f}")
        print(f"voice_s          {t2 - t1:8.3f}   (espeak-ng realtime factor "
              f"{voice.duration / (t2 - t1):.0f}x)")
        print(f"captions_s       {t3 - t2:8.3f}")
        print(f"render_s         {render_s:8.2f}")
        print(f"floor_s          {floor_s:8.2f}")
        print(f"ratio            {render_s / floor_s:8.2f}   (render / floor)")
        print(f"realtime_factor  {plan.duration / render_s:8.2f}")
        print(f"peak_rss_mb      {rss.peak_mb:8.0f}   (render, whole process tree)")


if __name__ == "__main__":
    main()
