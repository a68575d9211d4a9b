"""The renderer: its plan and argv as data, and one short real video measured frame by frame.

The real renders share one timeline (three spoken scenes, captions, a sale badge, music and a
logo) and are made once per module: the final render, a draft of it, and the same timeline
with no text and no music (the reference the text checks subtract).
"""

from __future__ import annotations

import dataclasses
import re
import resource
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.captions.build import build_captions, caption_anchor, group_words
from pipeline.render.audio_mix import (
    LUFS_TOLERANCE,
    MAX_TRUE_PEAK_DBTP,
    TARGET_LUFS,
    measure_loudness,
)
from pipeline.render.caption_images import CaptionBand
from pipeline.render.card_lanes import CardLane
from pipeline.render.cards import text_anchor
from pipeline.render.check import PROPERTIES, check_output
from pipeline.render.compositor import (
    LOGO_WIDTH,
    QUALITIES,
    Piece,
    PreparedVisual,
    RenderOptions,
    _prepare,
    blend_ahead_argv,
    blend_file,
    blends_ahead,
    encoder_args,
    encoder_argv,
    output_preset,
    piece_argv,
    plan_pieces,
    render_timeline,
)
from pipeline.render.presets import PRESETS, Preset, get_preset
from pipeline.render.timeline import Brand, MediaItem, Price, Timeline, build_timeline
from pipeline.tools import ToolError, probe
from pipeline.types import CaptionGroup, Scene, SceneTiming, Script, Voiceover
from pipeline.voice.espeak import EspeakVoice
from pipeline.voice.synthesis import synthesize_script

FPS = 30
BRAND = Brand()  # the default look: FF5E62 badges, FFE500 accent, white text
MUSIC_HZ = 13_000  # above everything espeak says (it speaks at 22.05 kHz, so below 11 kHz)


# --- pure: the plan and the argv --------------------------------------------------------------


def _script(n: int) -> Script:
    return Script("The title", tuple(Scene(f"Scene {i}.", f"Headline {i}") for i in range(n)),
                  "Follow.", ("#one", "#shorts"))


def _voice(*scene_seconds: float, pause: float = 0.3) -> Voiceover:
    """A voiceover laid out like synthesize_script's: scenes back to back with pauses."""
    scenes, t = [], 0.0
    for i, seconds in enumerate(scene_seconds):
        scenes.append(SceneTiming(i, t, t + seconds))
        t += seconds + pause
    return Voiceover(t, 22050, (), tuple(scenes), "test")


def _pairs(argv: Sequence[str]) -> dict[str, str]:
    """Each option's value (the last one wins)."""
    return {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("-")}


def _prepared(timeline: Timeline, fps: int = FPS) -> list[PreparedVisual]:
    """PreparedVisuals as the renderer makes them, with placeholder file names."""
    prepared = []
    for i, visual in enumerate(timeline.visuals):
        first = round(visual.start * fps)
        size = (1920, 1080) if visual.kind == "clip" else None
        prepared.append(PreparedVisual(visual, f"v{i}", first, round(visual.end * fps) - first,
                                       size))
    return prepared


def test_output_preset_per_quality() -> None:
    """Draft halves the frame (even sides) and encodes ultrafast; high uses x264 medium."""
    for preset in PRESETS.values():
        draft = output_preset(preset, "draft")
        assert (draft.width, draft.height) == (preset.width // 2, preset.height // 2)
        assert draft.width % 2 == draft.height % 2 == 0
        assert draft.video_preset == "ultrafast"
        assert (draft.fps, draft.safe_zone, draft.audio_rate) == (
            preset.fps, preset.safe_zone, preset.audio_rate)
        assert output_preset(preset, "high") == dataclasses.replace(preset, video_preset="medium")
        assert output_preset(preset, "standard") == preset
    small = dataclasses.replace(get_preset("tiktok"), width=270, height=480)
    assert (output_preset(small, "draft").width, output_preset(small, "draft").height) == (134, 240)
    assert QUALITIES == ("draft", "standard", "high")
    assert RenderOptions().quality == "standard"


def test_encoder_args_fix_the_platform_contract() -> None:
    """H.264 High yuv420p BT.709 with a fixed GOP, AAC stereo at the preset rate, faststart."""
    preset = get_preset("tiktok")
    opts = _pairs(encoder_args(preset, threads=3))
    assert (opts["-c:v"], opts["-profile:v"], opts["-pix_fmt"]) == ("libx264", "high", "yuv420p")
    assert (opts["-preset"], opts["-crf"]) == (preset.video_preset, str(preset.video_crf))
    assert opts["-r"] == "30"
    assert (opts["-colorspace"], opts["-color_primaries"], opts["-color_trc"]) == ("bt709",) * 3
    assert opts["-color_range"] == "tv"
    assert opts["-g"] == opts["-keyint_min"] == "60" and opts["-sc_threshold"] == "0"
    assert opts["-maxrate"] == f"{preset.video_maxrate_kbps}k"
    assert (opts["-c:a"], opts["-ar"], opts["-ac"]) == ("aac", "48000", "2")
    assert opts["-b:a"] == f"{preset.audio_bitrate_kbps}k"
    assert opts["-movflags"] == "+faststart"
    assert opts["-threads"] == "3"


LAYOUTS = {
    "typical": (3.0, 4.0, 12.0, 5.0),
    "two_short": (1.5, 2.0),
    "tiny_first_scenes": (0.4, 0.4, 0.4, 6.0),
    "one_long": (20.0,),
}


@pytest.mark.parametrize("preset_name", ["tiktok", "landscape", "small"])
@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_plan_pieces_cover_every_frame_once(layout: tuple[float, ...], preset_name: str) -> None:
    """Pieces tile the video's frames exactly once and each ends where the next blend ends."""
    preset = get_preset("tiktok") if preset_name == "small" else get_preset(preset_name)
    if preset_name == "small":
        preset = dataclasses.replace(preset, width=270, height=480, min_duration=3.0)
    timeline = build_timeline(_script(len(layout)), _voice(*layout), Path("v.wav"), preset)
    pieces = plan_pieces(timeline, preset.fps)
    total = round(timeline.duration * preset.fps)
    frames = [n for piece in pieces for n in range(piece.start, piece.end)]
    assert frames == list(range(total))
    assert [p.index for p in pieces] == list(range(len(timeline.visuals)))
    visuals = _prepared(timeline, preset.fps)
    for piece, transition, after in zip(pieces, timeline.transitions, visuals[1:], strict=False):
        blend = round(transition.duration * preset.fps)
        assert piece.blend_frames == blend and piece.transition == transition.kind
        assert piece.end == round(transition.start * preset.fps) + blend
        # The blend starts on the next visual's first frame and ends where its piece starts.
        assert after.first_frame == piece.end - blend
        assert piece.end - piece.start > blend
    assert pieces[-1].blend_frames == 0 and pieces[-1].end == total
    for piece, visual in zip(pieces, visuals, strict=True):
        # (a piece may end one frame past its visual when both ends round the other way)
        assert visual.first_frame <= piece.start < piece.end <= visual.first_frame + \
            visual.frames + 1


def _threads_before_input(argv: Sequence[str], file: str) -> str:
    """The -threads option of the input `file` (an input's options come after the previous
    input's -i and before its own)."""
    own_i = argv.index(file) - 1
    previous_i = max((i for i in range(own_i) if argv[i] == "-i"), default=0)
    options = list(argv[previous_i:own_i])
    return options[options.index("-threads") + 1]


def _filter(argv: Sequence[str]) -> str:
    return argv[argv.index("-filter_complex") + 1]


def test_piece_argv_moves_stills_fits_clips_and_blends() -> None:
    """Each piece decodes its visual(s), moves or fits them, xfades by kind, pipes raw yuv420p."""
    preset = get_preset("tiktok")
    media = [MediaItem(Path("a.jpg"), "still"), MediaItem(Path("c.mp4"), "clip")]
    timeline = build_timeline(_script(3), _voice(3.0, 3.0, 3.0), Path("v.wav"), preset,
                              media=media)
    kinds = [v.kind for v in timeline.visuals]
    assert kinds == ["still", "clip", "still", "generated"]
    assert [t.kind for t in timeline.transitions] == ["fade", "fade", "slideleft"]
    visuals = _prepared(timeline)
    pieces = plan_pieces(timeline, FPS)
    argvs = [piece_argv(piece, visuals, preset, "/opt/ffmpeg") for piece in pieces]
    for piece, argv in zip(pieces, argvs, strict=True):
        count = piece.end - piece.start
        assert argv[0] == "/opt/ffmpeg"
        assert argv[-7:] == ["-frames:v", str(count), "-f", "rawvideo", "-pix_fmt", "yuv420p",
                             "pipe:1"]
        graph = _filter(argv)
        inputs = [argv[i + 1] for i, a in enumerate(argv) if a == "-i"]
        if piece.blend_frames:
            following = visuals[piece.index + 1]
            made = blend_ahead_argv(piece, visuals, preset, "/opt/ffmpeg")
            # Without frames made ahead, the visual blended into is decoded in the piece,
            # from its own start, with one decoder thread.
            assert inputs == [f"v{piece.index}", f"v{piece.index + 1}"]
            assert _threads_before_input(argv, f"v{piece.index + 1}") == "1"
            if following.visual.kind == "clip":
                # A clip's blend frames can be made ahead: raw, fitted by the clip's own
                # chain, exactly blend_frames of them, read with a queue of one frame.
                assert made is not None and made[0] == "/opt/ffmpeg"
                assert made[-3:] == ["-f", "nut", blend_file(piece)]
                assert _filter(made) == _filter(piece_argv(
                    Piece(piece.index + 1, following.first_frame,
                          following.first_frame + piece.blend_frames, 0),
                    visuals, preset)).replace("[a", "[b")
                assert _pairs(made)["-frames:v"] == str(piece.blend_frames)
                ahead = piece_argv(piece, visuals, preset, blend_made_ahead=True)
                ahead_inputs = [ahead[i + 1] for i, a in enumerate(ahead) if a == "-i"]
                assert ahead_inputs == [f"v{piece.index}", blend_file(piece)]
                at = ahead.index(blend_file(piece))
                assert ahead[at - 3:at] == ["-thread_queue_size", "1", "-i"]
                assert "[1:v]setsar=1,settb=1/30,setpts=N[b]" in _filter(ahead)
                assert _filter(ahead).split("[b];")[1] == graph.split("[b];")[1]
            else:
                assert made is None
            blend = piece.blend_frames / FPS
            head = count - piece.blend_frames
            # Only a's last frames are blended; the head passes on untouched.
            assert (f"[a]split[ah][at];[ah]trim=end_frame={head}[head];"
                    f"[at]trim=start_frame={head},setpts=PTS-STARTPTS[tail]") in graph
            assert (f"[tail][b]xfade=transition={piece.transition}:"
                    f"duration={blend:.4f}:offset=0[mix]") in graph
            assert graph.endswith("[head][mix]concat=n=2:v=1:a=0[out]")
            assert argv[argv.index("-map") + 1] == "[out]"
        else:
            assert blend_ahead_argv(piece, visuals, preset) is None
            assert inputs == [f"v{piece.index}"] and "xfade" not in graph
            assert argv[argv.index("-map") + 1] == "[a]"
        assert graph.count("out_color_matrix=bt709:out_range=tv") == len(inputs)
    # A still is converted to BT.709 4:4:4 once, at its 2x size, then moves with zoompan at
    # the frame size for exactly the piece's frames, and leaves as yuv420p.
    first = _filter(argvs[0])
    assert first.startswith("[0:v]scale=2160:3840:out_color_matrix=bt709:out_range=tv,"
                            "format=yuv444p,zoompan=")
    assert first.split("zoompan=")[1].split("[a]")[0].count(",format=yuv420p,") == 1
    assert argvs[0][argvs[0].index("-filter_complex_threads") + 1] == "1"
    assert f":d={pieces[0].end}:s=1080x1920:fps=30," in first
    # The clip's piece seeks to where its blend left it; a 16:9 clip sits on a blurred copy.
    clip_argv = argvs[1]
    offset = pieces[1].start - visuals[1].first_frame
    assert clip_argv[clip_argv.index("-ss") + 1] == f"{offset / FPS:.3f}"
    clip_graph = _filter(clip_argv)
    # The fill is blurred at an eighth of the frame, then scaled up to it.
    assert ("force_original_aspect_ratio=increase,crop=136:240,boxblur=3:2,"
            "scale=1080:1920:flags=bilinear") in clip_graph
    assert "force_original_aspect_ratio=decrease" in clip_graph
    assert f"tpad=stop_mode=clone:stop={pieces[1].end - pieces[1].start}" in clip_graph
    # The clip is also the incoming visual of piece 0, from its own start.
    made = blend_ahead_argv(pieces[0], visuals, preset)
    assert made is not None and made[made.index("-ss") + 1] == "0.000"
    assert argvs[0][argvs[0].index("-ss") + 1] == "0.000"
    # Decoder threads are fixed, not one per core: the clip its piece shows gets two, the
    # clip only blended into gets one (each thread holds frames of its own).
    assert _threads_before_input(clip_argv, visuals[1].file) == "2"
    assert _threads_before_input(made, visuals[1].file) == "1"
    assert _threads_before_input(argvs[0], visuals[1].file) == "1"

    # A generated background drifts: a window cropped from one frame PAN_ZOOM larger than
    # the picture (drawn at half that), for exactly the piece's frames, at the frame rate.
    assert "transition=slideleft" in _filter(argvs[2])
    last = _filter(argvs[3])
    assert last.startswith("[0:v]scale=1188:2112:out_color_matrix=bt709:out_range=tv,"
                           "format=yuv420p,loop=loop=")
    assert f"loop=loop={pieces[3].end - pieces[3].start - 1}:size=1," in last
    assert ",fps=30,crop=1080:1920:x=" in last and "zoompan" not in last
    assert last.endswith(":exact=1,setsar=1[a]")


def test_blends_into_clips_are_made_ahead_within_the_disk_budget() -> None:
    """Only blends into clips are made ahead, in order, while their raw frames fit."""
    preset = get_preset("tiktok")
    media = [MediaItem(Path("a.jpg"), "still"), MediaItem(Path("c.mp4"), "clip"),
             MediaItem(Path("d.mp4"), "clip")]
    timeline = build_timeline(_script(4), _voice(3.0, 3.0, 3.0, 3.0), Path("v.wav"), preset,
                              media=media)
    visuals = _prepared(timeline)
    plan = [(piece, visuals) for piece in plan_pieces(timeline, FPS)]
    into_clip = [bool(p.blend_frames) and visuals[p.index + 1].visual.kind == "clip"
                 for p, _ in plan]
    assert into_clip.count(True) >= 2
    everything = blends_ahead(plan, preset)
    assert [run is not None for run in everything] == into_clip
    assert all(run[-1] == blend_file(p) for run, (p, _) in zip(everything, plan, strict=True)
               if run)
    frame_bytes = 1080 * 1920 * 3 // 2
    first = into_clip.index(True)
    only_one = blends_ahead(plan, preset, budget=plan[first][0].blend_frames * frame_bytes)
    assert [run is not None for run in only_one] == [i == first for i in range(len(plan))]
    assert blends_ahead(plan, preset, budget=0) == [None] * len(plan)


def test_encoder_argv_draws_text_logo_and_fade() -> None:
    """The encoder reads raw frames, overlays each lane of card images from its first frame,
    draws the captions' ASS, overlays the logo and fades out."""
    preset = get_preset("tiktok")
    timeline = build_timeline(_script(2), _voice(3.0, 3.0), Path("v.wav"), preset,
                              brand=Brand(logo=Path("logo.png")))
    total = round(timeline.duration * FPS)
    cards = [CardLane("lane0.ffconcat", 100, 200, 0), CardLane("lane1.ffconcat", 60, 400, 56)]
    argv = encoder_argv(timeline, preset, cards=cards, captions_ass="captions.ass",
                        logo="logo.png", audio="mix.wav", out="out.mp4", ffmpeg="/opt/ffmpeg",
                        threads=2)
    assert argv[0] == "/opt/ffmpeg" and argv[-1] == "out.mp4"
    opts = _pairs(argv)
    raw = _pairs(argv[:argv.index("pipe:0")])
    assert (raw["-f"], raw["-pix_fmt"], raw["-s"], raw["-framerate"]) == (
        "rawvideo", "yuv420p", "1080x1920", "30")
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-i"] == [
        "pipe:0", "lane0.ffconcat", "lane1.ffconcat", "logo.png", "mix.wav"]
    at = argv.index("lane1.ffconcat")
    assert argv[at - 5:at] == ["-safe", "0", "-f", "concat", "-i"]
    graph = opts["-filter_complex"]
    # Each lane's images from its first frame on, overlaid one lane after the other.
    assert "[1:v]format=yuva420p,settb=1/30,setpts=PTS+0[lane0]" in graph
    assert "[0:v][lane0]overlay=x=100:y=200:format=yuv420:eof_action=pass[text0]" in graph
    assert "[2:v]format=yuva420p,settb=1/30,setpts=PTS+56[lane1]" in graph
    assert "[text0][lane1]overlay=x=60:y=400:format=yuv420:eof_action=pass[text1]" in graph
    assert "[text1]ass=captions.ass[base]" in graph
    logo_w = int(re.search(r"\[3:v\]scale=(\d+):-2", graph).group(1))
    assert logo_w % 2 == 0 and abs(logo_w - LOGO_WIDTH * preset.width) <= 2
    x, y = map(int, re.search(r"\[base\]\[logo\]overlay=x=(\d+):y=(\d+)", graph).groups())
    zone = preset.safe_zone
    assert zone.left * preset.width <= x and x + logo_w <= preset.width / 2
    assert zone.top * preset.height <= y <= preset.height / 4
    start, length = map(float, re.search(r"format=auto,fade=t=out:st=([\d.]+):d=([\d.]+)",
                                         graph).groups())
    assert length == timeline.fade_out
    assert start + length == pytest.approx(total / FPS, abs=1e-3)
    assert graph.endswith("format=yuv420p[vout]")
    maps = [argv[i + 1] for i, a in enumerate(argv) if a == "-map"]
    assert maps == ["[vout]", "4:a"]
    assert opts["-frames:v"] == str(total)
    assert argv[argv.index("-c:v"):argv.index("-frames:v")] == encoder_args(preset, threads=2)
    # Without cards, logo or captions: nothing drawn but the fade, the audio is input 1.
    plain = encoder_argv(timeline, preset, cards=[], captions_ass=None, logo=None,
                         audio="mix.wav", out="out.mp4")
    graph = _pairs(plain)["-filter_complex"]
    assert "ass=" not in graph and "overlay" not in graph and graph.startswith("[0:v]null,fade")
    assert [plain[i + 1] for i, a in enumerate(plain) if a == "-map"] == ["[vout]", "1:a"]
    # Captions drawn as images: their listing is read after the cards, overlaid after them,
    # and the logo and the sound move one input on.
    banded = encoder_argv(timeline, preset, cards=cards[:1],
                          captions=CaptionBand("captions.ffconcat", 146, 1264),
                          logo="logo.png", audio="mix.wav", out="out.mp4")
    assert [banded[i + 1] for i, a in enumerate(banded) if a == "-i"] == [
        "pipe:0", "lane0.ffconcat", "captions.ffconcat", "logo.png", "mix.wav"]
    at = banded.index("captions.ffconcat")
    assert banded[at - 5:at] == ["-safe", "0", "-f", "concat", "-i"]
    graph = _pairs(banded)["-filter_complex"]
    assert ("[2:v]format=yuva420p[captions];[text0][captions]overlay=x=146:y=1264:"
            "format=yuv420:eof_action=pass[captioned]") in graph
    assert "ass=" not in graph and "[captioned]null[base];[base][logo]" in graph
    assert "[3:v]scale=" in graph
    assert [banded[i + 1] for i, a in enumerate(banded) if a == "-map"] == ["[vout]", "4:a"]


def _raw_frames(argv: Sequence[str], cwd: Path, preset: Preset) -> np.ndarray:
    raw = subprocess.run(argv, cwd=cwd, capture_output=True, check=True, timeout=60).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, preset.width * preset.height * 3 // 2)


def test_a_blend_into_a_clip_mixes_in_its_frames_made_ahead(tmp_path: Path,
                                                            small_preset: Preset) -> None:
    """The clip a still blends into is decoded ahead, losslessly: the piece mixes the still's
    tail into the very frames the clip's own piece would show, fading from one to the other."""
    preset = small_preset
    still, clip = tmp_path / "still.png", tmp_path / "clip.mp4"
    Image.new("RGB", (600, 900), (20, 40, 200)).save(still)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=320x180:rate=60:duration=5", "-c:v", "libx264",
                    "-preset", "ultrafast", "-bf", "2", "-g", "50", str(clip)],
                   check=True, timeout=60)
    timeline = build_timeline(_script(2), _voice(2.0, 2.0), Path("v.wav"), preset,
                              media=[MediaItem(still, "still"), MediaItem(clip, "clip")])
    assert [v.kind for v in timeline.visuals][:2] == ["still", "clip"]
    work = tmp_path / "work"
    work.mkdir()
    visuals = _prepare(timeline, preset, work)
    piece = plan_pieces(timeline, preset.fps)[0]
    blend = piece.blend_frames
    made = blend_ahead_argv(piece, visuals, preset)
    assert made is not None
    subprocess.run(made, cwd=work, check=True, timeout=60)
    incoming = _raw_frames(["ffmpeg", "-nostdin", "-v", "error", "-i", blend_file(piece),
                            "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"], work, preset)
    first = visuals[1].first_frame
    own = _raw_frames(piece_argv(Piece(1, first, first + blend, 0), visuals, preset), work,
                      preset)
    assert incoming.shape[0] == blend and np.array_equal(incoming, own)
    alone = _raw_frames(piece_argv(replace(piece, blend_frames=0), visuals, preset), work,
                        preset)[-blend:].astype(float)
    mixed = _raw_frames(piece_argv(piece, visuals, preset, blend_made_ahead=True), work,
                        preset)
    assert np.array_equal(mixed, _raw_frames(piece_argv(piece, visuals, preset), work, preset))
    assert mixed.shape[0] == piece.end - piece.start
    # Each blended frame is the still's frame and the clip's, weighted by a share that moves
    # from the still to the clip.
    shares = []
    for a, b, out in zip(alone, own.astype(float), mixed[-blend:].astype(float), strict=True):
        share = float(np.dot(out - a, b - a) / np.dot(b - a, b - a))
        assert np.abs(a + share * (b - a) - out).mean() < 1.0
        shares.append(share)
    assert shares == sorted(shares) and shares[0] < 0.15 and shares[-1] > 0.85


def test_missing_ffmpeg_is_a_tool_error(tmp_path: Path) -> None:
    """A render with no ffmpeg binary fails with ToolError code 127 naming the problem."""
    wav = tmp_path / "v.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "sine=f=220:r=22050:d=1", str(wav)], check=True, timeout=30)
    preset = dataclasses.replace(get_preset("tiktok"), width=270, height=480, min_duration=3.0)
    timeline = build_timeline(_script(1), _voice(0.7), wav, preset)
    with pytest.raises(ToolError) as caught:
        render_timeline(timeline, tmp_path / "w", tmp_path / "o.mp4",
                        options=RenderOptions(ffmpeg=str(tmp_path / "no-such-ffmpeg")))
    assert caught.value.returncode == 127
    assert "no-such-ffmpeg is not installed" in caught.value.stderr_tail
    assert not (tmp_path / "o.mp4").exists()


# --- real renders -----------------------------------------------------------------------------


@dataclass
class Rendered:
    """A finished render and how it went."""

    timeline: Timeline
    out: Path
    workdir: Path
    preset: Preset  # what the file was encoded with
    wall: float  # seconds
    cpu: float  # seconds of CPU used by the ffmpeg processes
    progress: list[float]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _render(timeline: Timeline, root: Path, quality: str = "standard") -> Rendered:
    progress: list[float] = []
    cpu, started = _children_cpu(), time.perf_counter()
    used = render_timeline(timeline, root / "work", root / "video.mp4",
                           options=RenderOptions(quality=quality, timeout=120),
                           on_progress=progress.append)
    wall = time.perf_counter() - started
    return Rendered(timeline, root / "video.mp4", root / "work", used, wall,
                    _children_cpu() - cpu, progress)


@dataclass
class Story:
    """The inputs of the module's renders."""

    voice: Voiceover
    wav: Path
    groups: list[CaptionGroup]
    timeline: Timeline


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, small_preset: Preset,
          espeak: EspeakVoice) -> Story:
    """Three spoken scenes with 1 s pauses, captions, a sale price, a 13 kHz music bed, a logo."""
    root = tmp_path_factory.mktemp("story")
    script = Script("Big title", (Scene("Bright colours first.", "One"),
                                  Scene("Then calm blue.", "Two"),
                                  Scene("Buy it today.", "Three")),
                    "Follow for more.", ("#tiny", "#shorts"))
    voice = synthesize_script(script, espeak, root / "voice.wav", sentence_pause=1.0)
    music = root / "music.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    f"sine=f={MUSIC_HZ}:r=48000:d=4", str(music)], check=True, timeout=30)
    logo = root / "logo.png"
    Image.new("RGB", (40, 40), (255, 0, 0)).save(logo)
    captions = build_captions(voice.words, small_preset, root / "captions")["ass"]
    timeline = build_timeline(script, voice, root / "voice.wav", small_preset, captions=captions,
                              music=music, brand=dataclasses.replace(BRAND, logo=logo),
                              price=Price("$29", "$19"))
    return Story(voice, root / "voice.wav", group_words(voice.words), timeline)


@pytest.fixture(scope="module")
def plain(story: Story, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """The same timeline with no text, no captions and no music (logo kept)."""
    timeline = dataclasses.replace(story.timeline, texts=(), captions=None, music=None)
    return _render(timeline, tmp_path_factory.mktemp("plain"))


@pytest.fixture(scope="module")
def final(story: Story, plain: Rendered, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """The whole timeline at standard quality (rendered after `plain`, so caches are warm)."""
    return _render(story.timeline, tmp_path_factory.mktemp("final"))


@pytest.fixture(scope="module")
def draft(story: Story, final: Rendered, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """The same timeline as a draft preview, rendered right after `final`."""
    return _render(story.timeline, tmp_path_factory.mktemp("draft"), "draft")


def _decode(video: Path, size: tuple[int, int], indices: Sequence[int] | None = None,
            pix_fmt: str = "rgb24") -> np.ndarray:
    """The video's frames (all, or those with the given indices) as uint8 arrays."""
    vf = ["-vf", "select='" + "+".join(f"eq(n\\,{n})" for n in indices) + "'",
          "-fps_mode", "passthrough"] if indices is not None else []
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(video), *vf,
                          "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"],
                         capture_output=True, check=True, timeout=60).stdout
    channels = 3 if pix_fmt == "rgb24" else 1
    frames = np.frombuffer(raw, np.uint8).reshape(-1, size[1], size[0], channels)
    if indices is not None:
        assert len(frames) == len(indices)
    return frames if channels == 3 else frames[..., 0]


@dataclass
class Samples:
    """Frames of the final and the plain render at the same instants."""

    indices: list[int]
    final: np.ndarray
    plain: np.ndarray

    def time(self, k: int) -> float:
        """Seconds at sample k."""
        return self.indices[k] / FPS

    def text_mask(self, k: int, threshold: int = 80) -> np.ndarray:
        """Pixels that text (cards or captions) changed clearly at sample k."""
        diff = np.abs(self.final[k].astype(np.int16) - self.plain[k].astype(np.int16))
        return diff.max(axis=2) > threshold


def _near(t: float, edges: Sequence[float], margin: float) -> bool:
    return any(abs(t - edge) < margin for edge in edges)


@pytest.fixture(scope="module")
def samples(story: Story, final: Rendered, plain: Rendered) -> Samples:
    """Every 4th frame before the fade-out, skipping text fades and caption changes."""
    timeline = story.timeline
    fade_start = timeline.duration - timeline.fade_out
    text_edges = [t for layer in timeline.texts for t in (layer.start, layer.end)]
    caption_edges = [t for g in story.groups for t in (g.start, g.end)]
    indices = [n for n in range(2, round(fade_start * FPS) - 2, 4)
               if not _near(n / FPS, text_edges, 0.25)
               and not _near(n / FPS, caption_edges, 0.05)]
    size = (final.preset.width, final.preset.height)
    return Samples(indices, _decode(final.out, size, indices), _decode(plain.out, size, indices))


def _row_runs(mask: np.ndarray, gap: int = 3) -> list[tuple[int, int]]:
    """Runs of rows holding marked pixels, merged across gaps of up to `gap` rows."""
    runs: list[list[int]] = []
    for row in np.nonzero(mask.sum(axis=1) >= 2)[0]:
        if runs and row - runs[-1][1] <= gap:
            runs[-1][1] = int(row)
        else:
            runs.append([int(row), int(row)])
    return [(a, b) for a, b in runs]


def test_final_render_passes_check_output(final: Rendered, story: Story,
                                          small_preset: Preset) -> None:
    """check_output finds nothing wrong with the standard render (incl. -14 LUFS, -1 dBTP)."""
    assert final.preset == small_preset
    assert check_output(final.out, small_preset,
                        expected_duration=story.timeline.duration) == []
    loudness = measure_loudness(final.out)
    assert abs(loudness.integrated_lufs - TARGET_LUFS) <= LUFS_TOLERANCE
    assert loudness.true_peak_dbtp <= MAX_TRUE_PEAK_DBTP
    info = probe(final.out)
    assert info.nb_video_frames == round(story.timeline.duration * FPS)


def test_voice_only_render_misses_nothing_but_the_audio_bitrate(plain: Rendered,
                                                                 story: Story) -> None:
    """Without music every video and audio property passes except, at most, the bit rate."""
    problems = check_output(plain.out, plain.preset, expected_duration=story.timeline.duration)
    names = {p.split(":", 1)[0] for p in problems}
    assert names <= {"audio_bitrate"} <= set(PROPERTIES), problems


def test_voice_only_render_passes_check_output(plain: Rendered, story: Story) -> None:
    """A render without music (pauses and a silent end card) meets the preset too."""
    assert check_output(plain.out, plain.preset,
                        expected_duration=story.timeline.duration) == []


def test_draft_is_a_faster_half_size_preview_of_the_same_timeline(
        draft: Rendered, final: Rendered, story: Story,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """The draft is half the size, as long, looks the same scaled down, and costs less CPU."""
    info = probe(draft.out)
    assert (info.width, info.height) == (134, 240) == (draft.preset.width, draft.preset.height)
    assert info.nb_video_frames == round(story.timeline.duration * FPS)
    assert info.duration == pytest.approx(story.timeline.duration, abs=0.05)
    index = round(5.5 * FPS)  # mid scene 3: background, headline, badge, caption, logo
    small = _decode(draft.out, (134, 240), [index])[0].astype(np.int16)
    big = _decode(final.out, (270, 480), [index])[0]
    with Image.fromarray(big) as image:
        shrunk = np.asarray(image.resize((134, 240), Image.Resampling.BOX), dtype=np.int16)
    assert np.abs(small - shrunk).mean() < 8
    # Less work: CPU seconds barely depend on what else the machine runs, wall seconds do
    # (the speed itself is bench/render_paths.py's to measure, not a test's).
    assert draft.cpu < final.cpu


def test_progress_rises_to_the_end(final: Rendered) -> None:
    """Progress is reported in order from preparation to the end of the encode."""
    assert final.progress == sorted(final.progress)
    assert final.progress[0] <= 0.1 and final.progress[-1] > 0.95
    assert all(0.0 <= p <= 1.0 for p in final.progress)
    assert {"cards_still.ass", "lane0.ffconcat", "lane0_blank.png", "captions_still.ass",
            "captions.ffconcat",
            "caption_0000.png", "mix.wav"} <= {
        p.name for p in final.workdir.iterdir()}



def _pcm(path: Path) -> np.ndarray:
    """The first audio stream decoded to 16-bit stereo samples (encoder priming removed)."""
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f",
                          "s16le", "-ac", "2", "-"], capture_output=True, check=True, timeout=60)
    return np.frombuffer(out.stdout, np.int16)


def test_the_video_carries_the_checked_aac_sample_for_sample(final: Rendered) -> None:
    """The sound is encoded once, by the mix, whose true peak was measured on that very AAC;
    the video copies it, so it decodes to the same samples, starting at the same time."""
    encoded = final.workdir / "mix.m4a"
    assert _pcm(final.out).tobytes() == _pcm(encoded).tobytes()
    # Whole AAC frames of 1024 samples: the last one is padded.
    samples = len(_pcm(final.out)) // 2
    assert 0 <= samples - final.timeline.duration * 48000 < 1024
    assert probe(final.out).audio_codec == "aac"


def test_no_black_frames_except_the_final_fade(final: Rendered, plain: Rendered) -> None:
    """Every frame is well lit through all transitions; only the last fade goes to black."""
    timeline = final.timeline
    fade_frames = round(timeline.fade_out * FPS)
    for rendered in (final, plain):
        luma = _decode(rendered.out, (270, 480), pix_fmt="gray").mean(axis=(1, 2))
        assert len(luma) == round(timeline.duration * FPS)
        lit = luma[: -fade_frames - 1]
        assert lit.min() > 40, f"dark frame {int(lit.argmin())}: mean luma {lit.min():.0f}"
        assert luma[-1] < 0.15 * lit[-FPS:].mean(), "the video should fade to black"
        assert np.all(np.diff(luma[-fade_frames:]) < 0.5), "the fade-out only darkens"


def test_transitions_blend_or_slide_as_the_timeline_says(plain: Rendered) -> None:
    """Mid-fade frames are the mean of both sides; mid-slideleft shows both, shifted left."""
    timeline = plain.timeline
    assert [t.kind for t in timeline.transitions] == ["fade", "fade", "slideleft"]
    width = plain.preset.width
    for transition in timeline.transitions:
        first = round(transition.start * FPS)
        blend = round(transition.duration * FPS)
        middle = round(transition.at * FPS)
        before, mid, after = (f.astype(np.float64) for f in _decode(
            plain.out, (width, 480), [first - 1, middle, first + blend]))
        assert np.abs(before - after).mean() > 30  # two different pictures
        if transition.kind == "fade":
            assert np.abs(mid - (before + after) / 2).mean() < 8
        else:
            # The outgoing picture has moved left by the elapsed part of the frame width and
            # the next one follows it in from the right.
            shift = round((middle - first) / blend * width)
            assert np.abs(mid[:, : width - shift] - before[:, shift:]).mean() < 8
            assert np.abs(mid[:, width - shift:] - after[:, :shift]).mean() < 8
            assert np.abs(mid - (before + after) / 2).mean() > 20


def test_text_appears_where_and_when_the_timeline_says(samples: Samples, story: Story,
                                                       final: Rendered) -> None:
    """At each sampled frame, text sits at exactly the anchors of the layers shown then."""
    timeline, preset = story.timeline, final.preset
    _, caption_y, _ = caption_anchor(preset)
    seen = set()
    for k in range(len(samples.indices)):
        t = samples.time(k)
        expected = [text_anchor(layer.kind, preset)[1] for layer in timeline.texts_at(t)]
        if any(g.start <= t < g.end for g in story.groups):
            expected.append(caption_y)
        centres = [(a + b) / 2 for a, b in _row_runs(samples.text_mask(k))]
        if any(layer.kind == "end" for layer in timeline.texts_at(t)):
            # The end card's second line (the hashtags) sits below its call to action.
            end_y = text_anchor("end", preset)[1]
            below = [c for c in centres if end_y + 20 < c < preset.height / 2]
            assert len(below) == 1, (t, centres)
            centres.remove(below[0])
        assert len(centres) == len(expected), (t, centres, expected)
        for centre, anchor in zip(sorted(centres), sorted(expected), strict=True):
            assert abs(centre - anchor) <= 5, (t, centres, expected)
        seen.update(layer.kind for layer in timeline.texts_at(t))
    assert seen == {"title", "headline", "badge", "end"}
    title = next(layer for layer in timeline.texts if layer.kind == "title")
    assert title.start == 0.0 and title.end >= 2.0


def test_badge_is_a_brand_coloured_box_only_while_the_timeline_shows_it(
        samples: Samples, story: Story, final: Rendered) -> None:
    """Pixels of the brand colour (and the struck accent price) appear in the badge band only
    between the badge's start and end."""
    badge = next(layer for layer in story.timeline.texts if layer.kind == "badge")
    y = text_anchor("badge", final.preset)[1]
    primary = np.array([int(BRAND.primary[i:i + 2], 16) for i in (0, 2, 4)])
    accent = np.array([int(BRAND.accent[i:i + 2], 16) for i in (0, 2, 4)])
    shown = hidden = 0
    for k in range(len(samples.indices)):
        frame = samples.final[k].astype(np.int16)
        changed = samples.text_mask(k, threshold=40)
        box = changed & (np.abs(frame - primary).max(axis=2) < 40)
        struck = changed & (np.abs(frame - accent).max(axis=2) < 60)
        struck[y + 40:] = False  # the caption highlight uses the same yellow lower down
        rows = np.nonzero(box.any(axis=1))[0]
        if badge.start <= samples.time(k) < badge.end:
            shown += 1
            assert box.sum() > 300, samples.time(k)
            assert y - 30 <= rows.min() and rows.max() <= y + 30
            assert struck.sum() > 5
        else:
            hidden += 1
            assert box.sum() < 10 and struck.sum() < 5, samples.time(k)
    assert shown >= 5 and hidden >= 5


def test_captions_follow_the_caption_groups(final: Rendered, plain: Rendered,
                                            story: Story) -> None:
    """Each caption group shows at the caption anchor while spoken, changes with the next
    group, highlights the spoken word, and nothing is captioned after the voice."""
    _, y, size = caption_anchor(final.preset)
    highlight = np.array([0xFF, 0xE5, 0x00])
    band = slice(y - 2 * size, y + 2 * size)
    groups = story.groups
    indices = [round((g.start + g.end) / 2 * FPS) for g in groups]
    after_voice = round((story.voice.scenes[-1].end + 0.5) * FPS)
    indices.append(after_voice)
    sampled = Samples(indices, _decode(final.out, (270, 480), indices),
                      _decode(plain.out, (270, 480), indices))
    masks = []
    for k, group in enumerate(groups):
        mask = sampled.text_mask(k)
        runs = _row_runs(mask[band])
        assert len(runs) == 1, (group.text, runs)
        centre = band.start + (runs[0][0] + runs[0][1]) / 2
        assert abs(centre - y) <= 5, (group.text, centre, y)
        rows_outside = mask.copy()
        rows_outside[band] = False
        rows_outside[: y - 3 * size] = False  # cards above the captions are not this test's
        assert rows_outside.sum() == 0, group.text
        yellow = np.abs(sampled.final[k].astype(np.int16) - highlight).max(axis=2) < 60
        assert (yellow[band] & mask[band]).sum() > 10, f"{group.text!r}: no spoken word lit"
        masks.append(mask[band])
    for k in range(len(groups) - 1):
        a, b = masks[k], masks[k + 1]
        assert (a ^ b).sum() > 0.15 * (a | b).sum(), (groups[k].text, groups[k + 1].text)
    assert sampled.text_mask(len(groups))[band].sum() == 0


def test_logo_watermark_stays_in_the_top_left_safe_zone(samples: Samples, final: Rendered) -> None:
    """The red logo fills its box inside the top-left safe zone on every frame, nowhere else."""
    preset = final.preset
    zone = preset.safe_zone
    width = round(preset.width * LOGO_WIDTH) // 2 * 2
    left = round(preset.width * zone.left) + preset.width // 40
    top = round(preset.height * zone.top) + preset.width // 40
    assert top >= preset.height * zone.top and left >= preset.width * zone.left
    for k in range(len(samples.indices)):
        frame = samples.final[k].astype(np.int16)
        red = (frame[..., 0] > 180) & (frame[..., 1] < 60) & (frame[..., 2] < 60)
        inside = red[top:top + width, left:left + width]
        assert inside.mean() > 0.8, samples.time(k)
        assert red.sum() - inside.sum() <= 3, samples.time(k)


def _band_db(samples: np.ndarray, rate: int, low: float, high: float,
             window: float) -> np.ndarray:
    """Power (dB) between low and high Hz in consecutive windows."""
    size = int(rate * window)
    count = len(samples) // size
    frames = samples[: count * size].reshape(count, size) * np.hanning(size)
    spectrum = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(size, 1 / rate)
    power = spectrum[:, (freqs >= low) & (freqs <= high)].sum(axis=1)
    return 10 * np.log10(power / size**2 + 1e-20)


def test_music_ducks_at_least_10_db_under_the_voice(final: Rendered, story: Story, media,
                                                    wav_reader, levels) -> None:
    """The 13 kHz music is ≥ 10 dB quieter while the voice speaks than in the pauses."""
    window = 0.02
    window_db, _ = levels
    voice, voice_rate = wav_reader(story.wav)
    voice_db = window_db(voice, voice_rate, window)
    music_db = _band_db(media["audio"](final.out), 48000, MUSIC_HZ - 500, MUSIC_HZ + 500, window)
    # Voice activity on the video's clock (the voice WAV starts at 0 and ends before it).
    voiced = np.zeros(len(music_db), bool)
    active = voice_db > voice_db.max() - 30
    voiced[: min(len(active), len(voiced))] = active[: len(voiced)]
    duration = story.timeline.duration
    speech, pauses = [], []
    for i in range(len(music_db)):
        t = i * window
        if t < 1.1 or t > duration - 1.6:
            continue  # the music fades in over 1 s and out over 1.5 s
        if voiced[max(0, i - round(0.1 / window)): i + 1].all():
            speech.append(music_db[i])  # speaking for at least 0.1 s
        elif not voiced[max(0, i - round(0.6 / window)): i + round(0.2 / window)].any():
            pauses.append(music_db[i])  # 0.6 s after the last word, 0.2 s before the next
    assert len(speech) > 20 and len(pauses) > 20
    ducked = float(np.median(pauses) - np.median(speech))
    assert ducked >= 10, f"music only {ducked:.1f} dB lower under the voice"
