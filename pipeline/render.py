"""The render stage: script, voiceover and captions become the finished MP4.

The frame pipeline is one ffmpeg filter graph (stills held with `loop`, captions drawn by
libass, colour conversion in `scale`), so rendering costs little more than the encode
itself; per-frame compositing in Python (moviepy's write path) measured many times slower.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from pipeline.cards import Card, TimedCard, write_cards_ass
from pipeline.presets import Preset
from pipeline.tools import run_ffmpeg
from pipeline.types import ProgressCallback, Script, StageError, Voiceover, no_progress
from pipeline.visuals import render_background

# Visuals must change at least this often; longer scenes are split into several cards.
MAX_SEGMENT_SECONDS = 5.5
END_CARD_SECONDS = 2.5
TITLE_CARD_MIN_SECONDS = 2.0


@dataclass(frozen=True)
class Segment:
    """One still on the timeline."""

    card: Card
    start: float
    end: float

    @property
    def duration(self) -> float:
        """Seconds on screen."""
        return self.end - self.start


@dataclass(frozen=True)
class RenderPlan:
    """Everything ffmpeg needs, as data."""

    preset: Preset
    duration: float
    segments: tuple[Segment, ...]


def plan_render(script: Script, voice: Voiceover, preset: Preset) -> RenderPlan:
    """Lay the cards on the voice's timeline: title, one or more per scene, end card."""
    duration = max(voice.duration + END_CARD_SECONDS, preset.min_duration)
    if duration > preset.max_duration:
        raise StageError(
            "render", "too_long",
            f"the narration lasts {voice.duration:.0f} s but {preset.name} accepts at most "
            f"{preset.max_duration:.0f} s; shorten the script",
        )
    end_card_start = duration - max(END_CARD_SECONDS, duration - voice.duration)
    boundaries = [timing.start for timing in voice.scenes[1:]] + [end_card_start]
    segments: list[Segment] = []
    start = 0.0
    palette = 0
    for scene_timing, end in zip(voice.scenes, boundaries, strict=True):
        scene = script.scenes[scene_timing.index]
        kind = "title" if not segments else "scene"
        if kind == "title":
            end = max(end, TITLE_CARD_MIN_SECONDS)
        elif end <= start:
            continue  # this scene is spoken while the title card is still up
        pieces = max(1, math.ceil((end - start) / MAX_SEGMENT_SECONDS))
        step = (end - start) / pieces
        for piece in range(pieces):
            headline = script.title if kind == "title" else scene.headline
            segments.append(Segment(Card(kind, headline, palette_index=palette),
                                    start + piece * step, start + (piece + 1) * step))
            palette += 1
            kind = "scene" if kind == "title" else kind
        start = end
    segments.append(Segment(Card("end", script.call_to_action or script.title,
                                 " ".join(script.hashtags),
                                 palette_index=palette), start, duration))
    return RenderPlan(preset=preset, duration=duration, segments=tuple(segments))


def _frame_counts(plan: RenderPlan) -> list[int]:
    """Whole frames per segment, cut on the frame grid so the total is exact."""
    fps = plan.preset.fps
    edges = [round(s.start * fps) for s in plan.segments] + [round(plan.duration * fps)]
    return [max(1, b - a) for a, b in zip(edges, edges[1:], strict=False)]


def ffmpeg_args(plan: RenderPlan, images: list[str], voice_wav: str, cards_ass: str,
                captions_ass: str | None, out: str, *, ffmpeg: str = "ffmpeg",
                threads: int = 0) -> list[str]:
    """The full ffmpeg command line for a plan (pure: paths are relative to the work dir)."""
    p = plan.preset
    counts = _frame_counts(plan)
    total_frames = sum(counts)
    argv = [ffmpeg, "-y"]
    for image in images:
        argv += ["-framerate", str(p.fps), "-i", image]
    argv += ["-i", voice_wav]
    chains = []
    for i, count in enumerate(counts):
        # `loop` repeats the decoded frame, so each JPEG is decoded once, not once per frame.
        chains.append(f"[{i}:v]scale={p.width}:{p.height},setsar=1,"
                      f"loop=loop={count - 1}:size=1:start=0,setpts=N/{p.fps}/TB[s{i}]")
    joined = "".join(f"[s{i}]" for i in range(len(counts)))
    video = f"{joined}concat=n={len(counts)}:v=1:a=0"
    video += f",ass={cards_ass}"
    if captions_ass:
        video += f",ass={captions_ass}"
    video += ",scale=out_color_matrix=bt709:out_range=tv,format=yuv420p[v]"
    audio = (f"[{len(images)}:a]aresample={p.audio_rate},aformat=channel_layouts=stereo,"
             f"apad=whole_len={round(total_frames / p.fps * p.audio_rate)}[a]")
    argv += ["-filter_complex", ";".join([*chains, video, audio]), "-map", "[v]", "-map", "[a]"]
    gop = round(p.fps * p.keyframe_seconds)
    argv += [
        "-c:v", "libx264", "-preset", p.video_preset, "-crf", str(p.video_crf),
        "-maxrate", f"{p.video_maxrate_kbps}k", "-bufsize", f"{2 * p.video_maxrate_kbps}k",
        "-profile:v", "high", "-pix_fmt", "yuv420p", "-r", str(p.fps),
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
        "-color_range", "tv", "-threads", str(threads),
        "-c:a", "aac", "-b:a", f"{p.audio_bitrate_kbps}k", "-ar", str(p.audio_rate), "-ac", "2",
        "-frames:v", str(total_frames), "-movflags", "+faststart", out,
    ]
    return argv


def render_video(
    script: Script,
    voice: Voiceover,
    voice_wav: Path,
    captions_ass: Path | None,
    preset: Preset,
    workdir: Path,
    out: Path,
    *,
    ffmpeg: str = "ffmpeg",
    threads: int = 0,
    timeout: float = 1800.0,
    on_progress: ProgressCallback = no_progress,
) -> RenderPlan:
    """Draw the cards, then encode the video in one ffmpeg run; returns the plan it used."""
    plan = plan_render(script, voice, preset)
    workdir.mkdir(parents=True, exist_ok=True)
    images = []
    for i, segment in enumerate(plan.segments):
        name = f"background_{i:03d}.jpg"
        render_background(segment.card.palette_index, preset.width, preset.height,
                          workdir / name)
        images.append(name)
        on_progress(0.1 * (i + 1) / len(plan.segments))
    write_cards_ass([TimedCard(s.card, s.start, s.end) for s in plan.segments], preset,
                    workdir / "cards.ass")
    local_wav = workdir / "voice.wav"
    if voice_wav.resolve() != local_wav.resolve():
        local_wav.write_bytes(voice_wav.read_bytes())
    local_ass = None
    if captions_ass is not None:
        local_ass = "captions.ass"
        (workdir / local_ass).write_bytes(captions_ass.read_bytes())
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = ffmpeg_args(plan, images, "voice.wav", "cards.ass", local_ass, str(out.resolve()),
                       ffmpeg=ffmpeg, threads=threads)
    run_ffmpeg(argv, timeout=timeout, total_seconds=plan.duration, cwd=workdir,
               on_progress=lambda f: on_progress(0.1 + 0.9 * f))
    return plan
