"""Every render benchmark path (bench/render_inputs.py) renders through the real render stage
at a short duration on a small frame, and its video is checked from the file itself; and a
clip that plays on through its visuals (W3) is composed as one piece."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.render_inputs import WORKLOADS, store_job
from bench.storage import settings_for
from pipeline.render.audio_mix import MAX_TRUE_PEAK_DBTP, TARGET_LUFS, measure_loudness
from pipeline.render.compositor import (
    PreparedVisual,
    merge_continuing,
    piece_argv,
    plan_pieces,
)
from pipeline.render.presets import PRESETS, Preset, get_preset
from pipeline.render.timeline import MediaItem, Timeline, build_timeline
from pipeline.tools import probe
from pipeline.types import Scene, SceneTiming, Script, Voiceover
from store.media import LocalMediaStorage
from worker.stages import StageContext, run_render

SECONDS = 8
# tiktok at a quarter of its size, and short enough for an 8 s video: each path in seconds.
SMALL = dataclasses.replace(get_preset("tiktok"), name="bench-small", width=270, height=480,
                            min_duration=3.0)


@pytest.fixture(scope="module")
def small_preset() -> Iterator[Preset]:
    """The small preset, findable by name for the duration of this module's renders."""
    PRESETS[SMALL.name] = SMALL
    yield SMALL
    del PRESETS[SMALL.name]


def _frame_count(video: Path) -> int:
    """Frames in the video stream, counted by decoding it (not the header's claim)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                          "-show_entries", "stream=nb_read_frames", "-print_format", "json",
                          str(video)], capture_output=True, text=True, check=True, timeout=60)
    return int(json.loads(out.stdout)["streams"][0]["nb_read_frames"])


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_each_path_renders_an_exact_checked_video(workload: str, small_preset: Preset,
                                                  tmp_path: Path) -> None:
    """The render stage turns each workload's stored inputs into a video of the preset's size,
    rate, codec and pixel format, with exactly its frames and a sound at -14 LUFS."""
    staged = WORKLOADS[workload](tmp_path / "inputs", SECONDS, small_preset, None)
    media = LocalMediaStorage(tmp_path / "media")
    job = store_job(media, staged, "standard", f"paths{workload.lower()}")
    ctx = StageContext(settings_for(tmp_path), media, tmp_path / "scratch",  # type: ignore[arg-type]
                       on_progress=lambda fraction: None)
    (tmp_path / "scratch").mkdir()
    video = media.path(run_render(ctx, job)["video"])  # check_output passed inside the stage

    info = probe(video)
    assert (info.width, info.height) == (270, 480)
    assert (info.frame_rate, info.avg_frame_rate) == ("30/1", "30/1")
    assert (info.video_codec, info.video_profile, info.pix_fmt) == ("h264", "High", "yuv420p")
    assert (info.audio_codec, info.sample_rate, info.channels) == ("aac", 48000, 2)
    assert _frame_count(video) == SECONDS * small_preset.fps
    assert info.duration == pytest.approx(SECONDS, abs=0.1)
    loudness = measure_loudness(video)
    assert abs(loudness.integrated_lufs - TARGET_LUFS) <= 1.0
    assert loudness.true_peak_dbtp <= MAX_TRUE_PEAK_DBTP


def _voice(*scene_seconds: float) -> Voiceover:
    """Scenes back to back with 0.3 s pauses, as synthesize_script lays them out."""
    scenes, t = [], 0.0
    for i, seconds in enumerate(scene_seconds):
        scenes.append(SceneTiming(i, t, t + seconds))
        t += seconds + 0.3
    return Voiceover(t, 22050, (), tuple(scenes), "test")


def _prepared(timeline: Timeline) -> list[PreparedVisual]:
    fps = timeline.preset.fps
    return [PreparedVisual(v, f"v{i}", round(v.start * fps),
                           round(v.end * fps) - round(v.start * fps),
                           (1920, 1080) if v.kind == "clip" else None)
            for i, v in enumerate(timeline.visuals)]


def test_a_clip_playing_on_through_its_visuals_is_one_piece() -> None:
    """W3's clip, cut into visuals only because its scenes are long, is decoded as one piece
    that blends into the end card; the frames still tile the video once."""
    preset = get_preset("tiktok")
    script = Script("T", tuple(Scene(f"s{i}", f"h{i}") for i in range(3)), "Go", ())
    clip = MediaItem(Path("c.mp4"), "clip", duration=60.0)
    timeline = build_timeline(script, _voice(4.0, 7.0, 4.0), Path("v.wav"), preset,
                              media=[clip])
    kinds = [v.kind for v in timeline.visuals]
    assert kinds[:-1] == ["clip"] * (len(kinds) - 1) and kinds[-1] == "generated"
    pieces = plan_pieces(timeline, preset.fps)
    merged = merge_continuing(pieces, _prepared(timeline), preset.fps)
    assert len(merged) == 2
    (whole, shown), (end_card, _) = merged
    assert (whole.start, whole.end) == (0, pieces[-2].end)
    assert whole.blend_frames == pieces[-2].blend_frames
    assert [v.visual.kind for v in shown] == ["clip", "generated"]
    assert end_card == pieces[-1]
    argv = piece_argv(whole, shown, preset)
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-i"] == ["v0", f"v{len(kinds) - 1}"]
    assert argv[argv.index("-frames:v") + 1] == str(whole.end - whole.start)


def test_different_clips_and_a_restarted_clip_keep_their_transitions() -> None:
    """Only a clip running on merges: another clip, or the same clip started again, blends."""
    preset = get_preset("tiktok")
    script = Script("T", tuple(Scene(f"s{i}", f"h{i}") for i in range(3)), "Go", ())
    two = [MediaItem(Path("a.mp4"), "clip", duration=60.0),
           MediaItem(Path("b.mp4"), "clip", duration=60.0)]
    short = [MediaItem(Path("a.mp4"), "clip", duration=3.0)]
    for media in (two, short):
        timeline = build_timeline(script, _voice(2.0, 2.0, 2.0), Path("v.wav"), preset,
                                  media=media)
        pieces = plan_pieces(timeline, preset.fps)
        merged = merge_continuing(pieces, _prepared(timeline), preset.fps)
        assert [piece for piece, _ in merged] == pieces
