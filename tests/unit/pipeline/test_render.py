"""The render stage: the plan of cards on the voice's timeline, the ffmpeg argv, and a real MP4."""

from __future__ import annotations

import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.captions import build_captions, caption_anchor
from pipeline.presets import PRESETS, Preset, get_preset
from pipeline.render import (
    END_CARD_SECONDS,
    MAX_SEGMENT_SECONDS,
    TITLE_CARD_MIN_SECONDS,
    RenderPlan,
    _frame_counts,
    ffmpeg_args,
    plan_render,
    render_video,
)
from pipeline.tools import ToolError, probe
from pipeline.types import Scene, SceneTiming, Script, StageError, Voiceover
from pipeline.visuals import PALETTES, render_background
from pipeline.voice import SCENE_PAUSE_SECONDS, synthesize_script
from pipeline.voice_espeak import EspeakVoice

# --- plan_render -----------------------------------------------------------------------------


def _script(n: int) -> Script:
    return Script(
        title="The title",
        scenes=tuple(Scene(f"Scene {i} words.", f"Headline {i}") for i in range(n)),
        call_to_action="Follow.",
        hashtags=("#one", "#shorts"),
    )


def _voice(*scene_seconds: float, pause: float = SCENE_PAUSE_SECONDS) -> Voiceover:
    """A voiceover laid out like synthesize_script's: scenes back to back with pauses."""
    scenes, t = [], 0.0
    for i, seconds in enumerate(scene_seconds):
        scenes.append(SceneTiming(i, t, t + seconds))
        t += seconds + pause
    return Voiceover(duration=t, sample_rate=22050, words=(), scenes=tuple(scenes),
                     engine="test")


def _assert_good_plan(plan: RenderPlan, script: Script, voice: Voiceover,
                      preset: Preset) -> None:
    """The timeline rules every plan must keep."""
    segments = plan.segments
    assert plan.duration >= preset.min_duration
    assert plan.duration >= voice.duration + END_CARD_SECONDS - 1e-9
    assert segments[0].start == 0.0
    assert segments[-1].end == pytest.approx(plan.duration)
    for before, after in zip(segments, segments[1:], strict=False):
        assert after.start == pytest.approx(before.end), "segments must be contiguous"
        assert after.card.palette_index % len(PALETTES) != before.card.palette_index % len(
            PALETTES)
    assert all(s.duration > 0 for s in segments), "every segment must last"
    assert all(s.duration <= MAX_SEGMENT_SECONDS + 1e-9 for s in segments[:-1])
    title, end = segments[0], segments[-1]
    assert (title.card.kind, title.card.headline) == ("title", script.title)
    assert title.duration >= TITLE_CARD_MIN_SECONDS
    assert end.card.kind == "end"
    assert end.card.subline == " ".join(script.hashtags)
    assert end.duration >= END_CARD_SECONDS - 1e-9
    assert {s.card.kind for s in segments[1:-1]} <= {"scene"}
    # Cards follow the narration: once the title is gone, the card shown when a scene starts
    # speaking is that scene's headline.
    for timing in voice.scenes[1:]:
        if timing.start >= title.end:
            shown = next(s for s in segments if s.start <= timing.start < s.end)
            assert shown.card.headline == script.scenes[timing.index].headline


LAYOUTS = {
    "two_short": (1.5, 2.0),
    "typical": (2.5, 3.0, 2.8, 3.1, 2.2, 1.4),
    "long_middle": (3.0, 12.0, 4.0),
    "one_long": (20.0,),
    "long_first": (7.0, 2.0),
    "exactly_max": (MAX_SEGMENT_SECONDS, MAX_SEGMENT_SECONDS),
}


@pytest.mark.parametrize("preset_name", ["small", "tiktok", "landscape"])
@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_plan_keeps_the_timeline_rules(layout: tuple[float, ...], preset_name: str,
                                       small_preset: Preset) -> None:
    """Contiguous segments of ≤5.5 s (end card aside), a ≥2 s title, ≥ min_duration in total."""
    preset = small_preset if preset_name == "small" else get_preset(preset_name)
    script, voice = _script(len(layout)), _voice(*layout)
    _assert_good_plan(plan_render(script, voice, preset), script, voice, preset)


def test_long_scene_is_split_evenly() -> None:
    """A 12 s scene is shown as three equal cards with the same headline."""
    plan = plan_render(_script(3), _voice(3.0, 12.0, 4.0), get_preset("tiktok"))
    middle = [s for s in plan.segments if s.card.headline == "Headline 1"]
    assert len(middle) == 3
    assert len({round(s.duration, 9) for s in middle}) == 1


def test_short_voice_is_padded_to_the_minimum_with_the_end_card() -> None:
    """A 4 s voice on tiktok (15 s minimum) gets an end card that fills the time up to 15 s."""
    voice = _voice(1.7, 2.0)
    plan = plan_render(_script(2), voice, get_preset("tiktok"))
    assert plan.duration == 15.0
    assert plan.segments[-1].start == pytest.approx(voice.duration)


def test_plan_with_several_very_short_scenes() -> None:
    """Three half-second scenes still give contiguous segments of positive length."""
    script, voice = _script(3), _voice(0.5, 0.5, 0.5)
    _assert_good_plan(plan_render(script, voice, get_preset("tiktok")), script, voice,
                      get_preset("tiktok"))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_too_long_voiceover_is_rejected(name: str) -> None:
    """A voice that cannot fit the preset's maximum with its end card fails with `too_long`."""
    preset = get_preset(name)
    fits = _voice(preset.max_duration - END_CARD_SECONDS - SCENE_PAUSE_SECONDS)
    assert plan_render(_script(1), fits, preset).duration <= preset.max_duration
    too_long = _voice(preset.max_duration - END_CARD_SECONDS)
    with pytest.raises(StageError) as caught:
        plan_render(_script(1), too_long, preset)
    assert (caught.value.stage, caught.value.code) == ("render", "too_long")
    assert preset.name in caught.value.message and "shorten" in caught.value.message


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_frame_counts_cover_the_duration_exactly(layout: tuple[float, ...]) -> None:
    """Whole frames per segment add up to the plan's duration on the 30 fps grid."""
    plan = plan_render(_script(len(layout)), _voice(*layout), get_preset("tiktok"))
    counts = _frame_counts(plan)
    assert len(counts) == len(plan.segments)
    assert all(c >= 1 for c in counts)
    assert sum(counts) == round(plan.duration * plan.preset.fps)


# --- ffmpeg_args -----------------------------------------------------------------------------


def _pairs(argv: list[str]) -> dict[str, str]:
    return {argv[i]: argv[i + 1] for i in range(1, len(argv) - 1) if argv[i].startswith("-")}


def test_ffmpeg_args_encode_a_platform_ready_mp4(tmp_path: Path, monkeypatch) -> None:
    """The argv asks for H.264 High yuv420p bt709 at 30 fps, AAC 48 kHz stereo and faststart."""
    monkeypatch.chdir(tmp_path)
    preset = get_preset("tiktok")
    plan = plan_render(_script(2), _voice(3.0, 4.0), preset)
    images = [f"bg_{i}.jpg" for i in range(len(plan.segments))]
    argv = ffmpeg_args(plan, images, "voice.wav", "cards.ass", "captions.ass", "out.mp4",
                       ffmpeg="/opt/ff/ffmpeg", threads=2)
    assert argv[0] == "/opt/ff/ffmpeg" and argv[-1] == "out.mp4"
    opts = _pairs(argv)
    assert opts["-c:v"] == "libx264"
    assert opts["-profile:v"] == "high"
    assert opts["-pix_fmt"] == "yuv420p"
    assert opts["-r"] == "30"
    assert opts["-movflags"] == "+faststart"
    assert (opts["-colorspace"], opts["-color_primaries"], opts["-color_trc"]) == ("bt709",) * 3
    assert opts["-color_range"] == "tv"
    assert (opts["-c:a"], opts["-ar"], opts["-ac"]) == ("aac", "48000", "2")
    assert opts["-g"] == opts["-keyint_min"] == "60" and opts["-sc_threshold"] == "0"
    assert opts["-threads"] == "2"
    assert opts["-frames:v"] == str(sum(_frame_counts(plan)))
    inputs = [argv[i + 1] for i, a in enumerate(argv) if a == "-i"]
    assert inputs == [*images, "voice.wav"]
    graph = opts["-filter_complex"]
    for i, count in enumerate(_frame_counts(plan)):
        assert f"[{i}:v]scale=1080:1920,setsar=1,loop=loop={count - 1}:size=1:start=0" in graph
    assert f"concat=n={len(images)}:v=1:a=0,ass=cards.ass,ass=captions.ass" in graph
    assert "out_color_matrix=bt709" in graph and "format=yuv420p[v]" in graph
    assert f"[{len(images)}:a]aresample=48000" in graph
    assert f"apad=whole_len={round(sum(_frame_counts(plan)) / 30 * 48000)}[a]" in graph
    # Pure: the same answer twice, and nothing written.
    assert argv == ffmpeg_args(plan, images, "voice.wav", "cards.ass", "captions.ass",
                               "out.mp4", ffmpeg="/opt/ff/ffmpeg", threads=2)
    assert list(tmp_path.iterdir()) == []


def test_ffmpeg_args_without_captions() -> None:
    """With no captions file only the cards are drawn."""
    plan = plan_render(_script(1), _voice(3.0), get_preset("square"))
    argv = ffmpeg_args(plan, ["a.jpg", "b.jpg"], "v.wav", "cards.ass", None, "o.mp4")
    graph = _pairs(argv)["-filter_complex"]
    assert graph.count("ass=") == 1 and "ass=cards.ass," in graph
    assert "scale=1080:1080" in graph


# --- a real render ---------------------------------------------------------------------------


@dataclass
class Rendered:
    """A finished render and what went into it."""

    out: Path
    workdir: Path
    plan: RenderPlan
    voice: Voiceover
    progress: list[float]
    preset: Preset


def _render(root: Path, preset: Preset, with_captions: bool) -> Rendered:
    script = Script(
        title="Tiny {\\b1} test: كيف",
        scenes=(Scene("Bright colours first.", "One"), Scene("Then calm blue tones.", "Two")),
        call_to_action="Follow for more.",
        hashtags=("#tiny", "#shorts"),
    )
    root.mkdir(parents=True, exist_ok=True)
    voice = synthesize_script(script, EspeakVoice(), root / "voice_src.wav")
    captions = build_captions(voice.words, preset, root / "captions")["ass"] if with_captions \
        else None
    progress: list[float] = []
    plan = render_video(script, voice, root / "voice_src.wav", captions, preset, root / "work",
                        root / "out" / "video.mp4", threads=2, timeout=120,
                        on_progress=progress.append)
    return Rendered(root / "out" / "video.mp4", root / "work", plan, voice, progress, preset)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, small_preset: Preset) -> Rendered:
    """A two-scene video with captions, rendered at 270×480."""
    return _render(tmp_path_factory.mktemp("render"), small_preset, with_captions=True)


@pytest.fixture(scope="module")
def rendered_plain(tmp_path_factory: pytest.TempPathFactory, small_preset: Preset) -> Rendered:
    """The same video rendered without captions."""
    return _render(tmp_path_factory.mktemp("render_plain"), small_preset, with_captions=False)


def test_render_output_is_platform_ready(rendered: Rendered) -> None:
    """ffprobe sees H.264 High yuv420p 30 fps bt709 and AAC 48 kHz stereo, at the planned size."""
    info = probe(rendered.out)
    assert info.video_codec == "h264" and info.video_profile == "High"
    assert info.pix_fmt == "yuv420p"
    assert info.frame_rate == info.avg_frame_rate == "30/1"
    assert (info.color_space, info.color_primaries, info.color_transfer) == ("bt709",) * 3
    assert (info.width, info.height) == (270, 480)
    assert (info.audio_codec, info.sample_rate, info.channels) == ("aac", 48000, 2)
    assert "mp4" in info.format_name
    assert info.duration == pytest.approx(rendered.plan.duration, abs=0.05)
    assert info.nb_video_frames == round(rendered.plan.duration * 30)
    assert rendered.plan.duration >= rendered.preset.min_duration


def _top_level_atoms(path: Path) -> list[str]:
    data = path.read_bytes()
    atoms, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        atoms.append(kind.decode("latin-1"))
        if size == 0:
            break
        offset += size
    return atoms


def test_render_output_is_faststart(rendered: Rendered) -> None:
    """The 'moov' atom comes before 'mdat', so players can start before the download ends."""
    atoms = _top_level_atoms(rendered.out)
    assert "moov" in atoms and "mdat" in atoms
    assert atoms.index("moov") < atoms.index("mdat")
    data = rendered.out.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")


def test_frames_change_between_segments(rendered: Rendered, media) -> None:
    """A frame from the middle of each segment differs clearly from every other segment's."""
    frames = [media["frame"](rendered.out, (s.start + s.end) / 2, 270, 480).astype(np.int16)
              for s in rendered.plan.segments]
    assert len(frames) == len(rendered.plan.segments) >= 3
    for i in range(len(frames)):
        for j in range(i + 1, len(frames)):
            assert np.abs(frames[i] - frames[j]).mean() > 10, (i, j)


def test_background_and_text_are_on_screen(rendered: Rendered, media) -> None:
    """The title frame is its background plus drawn text: equal at the bottom, not at the title."""
    background = np.asarray(Image.open(rendered.workdir / "background_000.jpg").convert("RGB"),
                            dtype=np.int16)
    assert background.shape == (480, 270, 3)
    frame = media["frame"](rendered.out, 0.6, 270, 480).astype(np.int16)
    diff = np.abs(frame - background).mean(axis=2)
    assert diff[440:, :].mean() < 6, "the frame should show the segment's background"
    title_y = round(480 * 0.36)
    assert diff[title_y - 20 : title_y + 20, :].max() > 100, "the title should be drawn"


def test_captions_are_burned_in_where_anchored(rendered: Rendered, rendered_plain: Rendered,
                                               media) -> None:
    """With and without captions, frames differ in the caption band and nowhere far from it."""
    _, y, size = caption_anchor(rendered.preset)
    word = rendered.voice.words[1]
    t = (word.start + word.end) / 2
    with_captions = media["frame"](rendered.out, t, 270, 480).astype(np.int16)
    without = media["frame"](rendered_plain.out, t, 270, 480).astype(np.int16)
    diff = np.abs(with_captions - without).mean(axis=2)
    band = diff[y - size : y + size, :]
    assert band.max() > 100 and band.mean() > 5
    assert diff[: y - 3 * size, :].mean() < 2
    assert diff[y + 3 * size :, :].mean() < 2


def _volumedetect(path: Path, *extra: str) -> dict[str, float]:
    stderr = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", *extra, "-i", str(path), "-af", "volumedetect",
         "-f", "null", "-"], capture_output=True, text=True, check=True, timeout=60).stderr
    return {k: float(v) for k, v in re.findall(r"(mean_volume|max_volume): (-?[\d.]+) dB", stderr)}


def test_audio_is_the_voice_in_sync_then_silence(rendered: Rendered, media, levels) -> None:
    """The soundtrack is loud, silent in the voice's scene gap (in sync), and quiet at the end."""
    window_db, level_db = levels
    assert _volumedetect(rendered.out)["mean_volume"] > -35
    audio = media["audio"](rendered.out)
    rate = 48000
    first, second = rendered.voice.scenes
    gap = audio[round((first.end + 0.05) * rate) : round((second.start - 0.05) * rate)]
    assert level_db(gap) < -50, "the pause between scenes should be silent in the video too"
    assert level_db(audio[: round(first.end * rate)]) > -35
    assert level_db(audio[round(second.start * rate) : round(second.end * rate)]) > -35
    tail = audio[round((rendered.voice.duration + 0.05) * rate) :]
    assert len(tail) > rate and level_db(tail) < -60, "the end card should be silent"
    assert len(audio) / rate == pytest.approx(rendered.plan.duration, abs=0.05)


def test_render_progress_and_workdir(rendered: Rendered) -> None:
    """Progress rises from the backgrounds to the encode's end; the workdir holds the inputs."""
    progress = rendered.progress
    n = len(rendered.plan.segments)
    assert progress[:n] == pytest.approx([0.1 * (i + 1) / n for i in range(n)])
    assert progress == sorted(progress)
    assert all(0.0 <= p <= 1.0 for p in progress)
    assert progress[-1] > 0.95
    names = {p.name for p in rendered.workdir.iterdir()}
    assert {"cards.ass", "captions.ass", "voice.wav"} <= names
    assert sum(name.startswith("background_") for name in names) == n
    with Image.open(rendered.workdir / "background_001.jpg") as image:
        assert image.size == (270, 480)


def test_render_with_missing_ffmpeg_is_a_tool_error(tmp_path: Path, small_preset: Preset) -> None:
    """A missing ffmpeg binary surfaces as ToolError with return code 127."""
    script = _script(1)
    wav = tmp_path / "v.wav"
    voice = synthesize_script(script, EspeakVoice(), wav)
    with pytest.raises(ToolError) as caught:
        render_video(script, voice, wav, None, small_preset, tmp_path / "w", tmp_path / "o.mp4",
                     ffmpeg=str(tmp_path / "no-such-ffmpeg"))
    assert caught.value.returncode == 127
    assert "not installed" in caught.value.stderr_tail


# --- backgrounds -----------------------------------------------------------------------------


def test_backgrounds_have_the_size_and_differ_by_palette(tmp_path: Path) -> None:
    """Each background is a JPEG of exactly the frame size; palettes give different pictures."""
    a = render_background(0, 90, 160, tmp_path / "a.jpg")
    b = render_background(1, 90, 160, tmp_path / "b.jpg")
    again = render_background(0, 90, 160, tmp_path / "again.jpg")
    with Image.open(a) as ia, Image.open(b) as ib, Image.open(again) as ic:
        assert ia.format == "JPEG" and ia.size == ib.size == (90, 160)
        pa, pb, pc = (np.asarray(i.convert("RGB"), dtype=np.int16) for i in (ia, ib, ic))
    assert np.abs(pa - pb).mean() > 20
    assert np.array_equal(pa, pc), "the same palette index must draw the same picture"
    # A vertical gradient: the top row and the bottom row differ.
    assert np.abs(pa[0].mean(axis=0) - pa[-1].mean(axis=0)).max() > 20
