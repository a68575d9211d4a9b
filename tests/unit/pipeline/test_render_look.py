"""How rendered pictures move and fit: Ken Burns tracked feature by feature, wide stills, clips.

Each timeline is rendered once per module at 270×480 with no text. Motion is measured by
tracking bright round spots (sub-pixel centroids) from frame to frame, both in the decoded MP4
and in the compositor's raw frames (the pieces' output before the encoder, so the measurement
sees the renderer's geometry without H.264 noise).
"""

from __future__ import annotations

import dataclasses
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image, ImageDraw

from pipeline.render.compositor import (
    PAN_ZOOM,
    Piece,
    PreparedVisual,
    RenderOptions,
    _drift_size,
    _prepare,
    piece_argv,
    plan_pieces,
    render_timeline,
)
from pipeline.render.presets import Preset
from pipeline.render.timeline import (
    KEN_BURNS_ZOOM,
    MediaItem,
    Timeline,
    Visual,
    build_timeline,
)
from pipeline.types import Scene, SceneTiming, Script, Voiceover

FPS = 30
W, H = 270, 480
SPOT_RADIUS = 9  # pixels on screen around a spot's centre that its centroid uses
# A feature may move back by this much between frames before it counts as a jump back
# (centroids on raw frames are good to a few hundredths of a pixel).
BACK_TOLERANCE = 0.05
_ZOOM_JITTER = ("bug: zoompan aligns its crop's x/y down to the chroma grid (even pixels of "
                "the 2x still, i.e. whole screen pixels, because its input is yuv420p), so "
                "with an even crop width the crop centre alternates by half a screen pixel: "
                "off-centre features jump back ~0.2-0.35 px every other step of a zoom and pans "
                "move in whole-pixel steps instead of the half pixels _zoompan promises; fix: "
                "convert to a 4:4:4 format before zoompan in render._chain "
                "(e.g. 'format=yuv444p,zoompan=...')")


# --- measuring motion -------------------------------------------------------------------------


def _spot_picture(path: Path, width: int, height: int) -> None:
    """A dark picture with a 3×3 grid of bright Gaussian spots (sigma 7 px at this size)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    pixels = np.zeros((height, width))
    for fx in (0.2, 0.5, 0.8):
        for fy in (0.2, 0.5, 0.8):
            pixels += np.exp(-((xx - fx * width) ** 2 + (yy - fy * height) ** 2) / (2 * 7.0**2))
    grey = np.clip(40 + 215 * pixels, 0, 255).astype(np.uint8)
    Image.fromarray(grey).convert("RGB").save(path)


def _centroid(frame: np.ndarray, x: float, y: float) -> tuple[float, float]:
    """Sub-pixel centre of the spot near (x, y): intensity-weighted mean above the background."""
    r = SPOT_RADIUS
    for _ in range(3):
        cx, cy = int(round(x)), int(round(y))
        window = frame[cy - r: cy + r + 1, cx - r: cx + r + 1].astype(np.float64)
        weight = np.clip(window - 60, 0, None)
        ys, xs = np.mgrid[cy - r: cy + r + 1, cx - r: cx + r + 1]
        x, y = (weight * xs).sum() / weight.sum(), (weight * ys).sum() / weight.sum()
    return float(x), float(y)


def _find_spots(frame: np.ndarray) -> list[tuple[float, float]]:
    """Centres of the bright spots of a frame (local maxima well above the background)."""
    r = SPOT_RADIUS
    peaks = sliding_window_view(np.pad(frame, r), (2 * r + 1, 2 * r + 1)).max(axis=(2, 3))
    ys, xs = np.nonzero((frame == peaks) & (frame > 150))
    spots: list[tuple[float, float]] = []
    for y, x in zip(ys, xs, strict=True):
        if r <= y < frame.shape[0] - r and r <= x < frame.shape[1] - r:
            spot = _centroid(frame, x, y)
            if all(np.hypot(spot[0] - s[0], spot[1] - s[1]) > 3 for s in spots):
                spots.append(spot)
    return spots


def _track(frames: np.ndarray) -> np.ndarray:
    """Positions (frame, spot, xy) of the first frame's spots, followed frame to frame."""
    spots = [_find_spots(frames[0])]
    assert len(spots[0]) == 9, "every spot should be in view"
    for frame in frames[1:]:
        spots.append([_centroid(frame, x, y) for x, y in spots[-1]])
    return np.array(spots)


def _scales(track: np.ndarray) -> np.ndarray:
    """Each frame's magnification relative to the first (least-squares fit over all spots)."""
    ref = track[0] - track[0].mean(axis=0)
    moved = track - track.mean(axis=1, keepdims=True)
    return (moved * ref).sum(axis=(1, 2)) / (ref**2).sum()


def _worst_zoom_back_step(track: np.ndarray, centre: tuple[float, float]) -> float:
    """The largest inward move (px) of any spot away from the zoom centre, frame to frame."""
    distance = np.hypot(track[..., 0] - centre[0], track[..., 1] - centre[1])
    off_centre = distance[0] > 20  # a spot on the centre has no outward direction
    return float(-np.diff(distance[:, off_centre], axis=0).min())


def _zoom_frames(picture: np.ndarray, zooms: list[float], *, plain_zoompan: bool) -> np.ndarray:
    """A centred zoom on a 2x picture, cropped the way plain zoompan does, or exactly."""
    big_h, big_w = picture.shape
    frames = []
    with Image.fromarray(picture) as image:
        for zoom in zooms:
            if plain_zoompan:
                # zoompan: w = trunc(iw/zoom), x = trunc(iw/2 - iw/zoom/2) on the chroma grid.
                w, h = int(big_w / zoom), int(big_h / zoom)
                x = int(big_w / 2 - big_w / zoom / 2) & ~1
                y = int(big_h / 2 - big_h / zoom / 2) & ~1
                box = (x, y, x + w, y + h)
            else:
                half_w, half_h = big_w / zoom / 2, big_h / zoom / 2
                box = (big_w / 2 - half_w, big_h / 2 - half_h, big_w / 2 + half_w,
                       big_h / 2 + half_h)
            resized = image.resize((big_w // 2, big_h // 2), Image.Resampling.BILINEAR, box=box)
            frames.append(np.asarray(resized))
    return np.array(frames)


def test_measurement_catches_the_jitter_of_plain_zoompan(tmp_path: Path) -> None:
    """Tracking flags plain zoompan's whole-pixel crops as jumping back, not an exact zoom."""
    _spot_picture(tmp_path / "spots.png", 2 * W, 2 * H)
    with Image.open(tmp_path / "spots.png") as opened:
        picture = np.asarray(opened.convert("L"))
    zooms = [1 + KEN_BURNS_ZOOM * k / 59 for k in range(60)]
    centre = ((W - 1) / 2, (H - 1) / 2)
    jittery = _track(_zoom_frames(picture, zooms, plain_zoompan=True))
    exact = _track(_zoom_frames(picture, zooms, plain_zoompan=False))
    assert _worst_zoom_back_step(jittery, centre) > 3 * BACK_TOLERANCE
    assert _worst_zoom_back_step(exact, centre) <= BACK_TOLERANCE
    steps = np.diff(_scales(exact))
    assert steps.min() > 0 and steps.max() < 1.2 * steps.mean()
    assert _scales(exact)[-1] == pytest.approx(zooms[-1], abs=0.003)


# --- the Ken Burns render ---------------------------------------------------------------------


def _sine_voice(path: Path, seconds: float, spoken: list[tuple[float, float]]) -> None:
    """A 300 Hz 'voice' WAV at 22.05 kHz, sounding only during the given spans."""
    gate = "+".join(f"between(t,{a},{b})" for a, b in spoken)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    f"aevalsrc='0.3*sin(2*PI*300*t)*({gate})':s=22050:d={seconds}", str(path)],
                   check=True, timeout=30)


def _two_scene_timeline(root: Path, preset: Preset, media: list[MediaItem],
                        scenes: tuple[tuple[float, float], ...], seconds: float) -> Timeline:
    """A text-free timeline of two scenes (spoken spans given) over the media."""
    _sine_voice(root / "voice.wav", seconds, list(scenes))
    voice = Voiceover(seconds, 22050, (), tuple(SceneTiming(i, a, b)
                                                for i, (a, b) in enumerate(scenes)), "test")
    script = Script("T", (Scene("a", "A"), Scene("b", "B")), "Go", ())
    timeline = build_timeline(script, voice, root / "voice.wav", preset, media=media)
    return dataclasses.replace(timeline, texts=())


def _frames_alone(timeline: Timeline, index: int) -> range:
    """Frames on which visual `index` is on screen alone (no transition, no fade-out)."""
    transitions = timeline.transitions
    first = 0 if index == 0 else round(transitions[index - 1].start * FPS) + round(
        transitions[index - 1].duration * FPS)
    last = round(transitions[index].start * FPS) if index < len(transitions) else round(
        (timeline.duration - timeline.fade_out) * FPS)
    return range(first, last)


def _decode_grey(video: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(video), "-f", "rawvideo",
                          "-pix_fmt", "gray", "-"], capture_output=True, check=True,
                         timeout=60).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, H, W)


def _composed(timeline: Timeline, preset: Preset, workdir: Path) -> np.ndarray:
    """The luma of every frame the compositor pieces hand to the encoder."""
    workdir.mkdir(parents=True, exist_ok=True)
    visuals = _prepare(timeline, preset, workdir)
    chunks = [subprocess.run(piece_argv(piece, visuals, preset), cwd=workdir,
                             capture_output=True, check=True, timeout=60).stdout
              for piece in plan_pieces(timeline, preset.fps)]
    raw = np.frombuffer(b"".join(chunks), np.uint8).reshape(-1, W * H * 3 // 2)
    return raw[:, : W * H].reshape(-1, H, W)


@dataclass
class KenBurns:
    """A zoom_in still then a pan_right still of the spot picture, encoded and composed."""

    timeline: Timeline
    encoded: np.ndarray
    composed: np.ndarray

    def frames_alone(self, index: int) -> range:
        """Frames on which visual `index` is on screen alone (no transition)."""
        return _frames_alone(self.timeline, index)

    def visual_frames(self, index: int) -> int:
        """How many frames visual `index` lasts (its motion's whole course)."""
        visual = self.timeline.visuals[index]
        return round(visual.end * FPS) - round(visual.start * FPS)


@pytest.fixture(scope="module")
def ken_burns(tmp_path_factory: pytest.TempPathFactory, small_preset: Preset) -> KenBurns:
    """Render ~3 s of zoom_in and ~2 s of pan_right on a spot picture."""
    root = tmp_path_factory.mktemp("ken_burns")
    _spot_picture(root / "spots.png", 2 * W, 2 * H)
    still = MediaItem(root / "spots.png", "still")
    timeline = _two_scene_timeline(root, small_preset, [still, still],
                                   ((0.0, 2.8), (3.0, 5.0)), 5.2)
    assert [v.motion for v in timeline.visuals[:2]] == ["zoom_in", "pan_right"]
    render_timeline(timeline, root / "work", root / "video.mp4")
    encoded = _decode_grey(root / "video.mp4")
    composed = _composed(timeline, small_preset, root / "composed")
    assert len(encoded) == len(composed) == round(timeline.duration * FPS)
    return KenBurns(timeline, encoded, composed)


def test_ken_burns_zoom_grows_steadily_in_the_video(ken_burns: KenBurns) -> None:
    """The zoom_in magnification never shrinks and follows the planned ramp in small steps."""
    frames = ken_burns.frames_alone(0)
    assert len(frames) >= 75  # about 2.5 s of motion measured
    scales = _scales(_track(ken_burns.encoded[frames.start: frames.stop]))
    steps = np.diff(scales)
    assert steps.min() > -0.0015, f"the zoom shrinks at frame {int(steps.argmin())}"
    course = ken_burns.visual_frames(0) - 1
    planned = np.array([1 + KEN_BURNS_ZOOM * k / course for k in frames])
    # The crop width moves in whole 2x pixels (~0.4 % of the width): steps of at most ~1.5 of
    # those, never more than ~1.5 of them away from the planned ramp.
    assert steps.max() < 0.0065
    assert np.abs(scales - planned / planned[0]).max() < 0.006
    assert scales[-1] > 1 + 0.8 * KEN_BURNS_ZOOM * len(frames) / course


def test_ken_burns_pan_moves_one_way_steadily_in_the_video(ken_burns: KenBurns) -> None:
    """The pan_right picture only moves left, in steps under 1.5 px, on its planned course."""
    frames = ken_burns.frames_alone(1)
    assert len(frames) >= 45
    track = _track(ken_burns.encoded[frames.start: frames.stop])
    xs = track[..., 0].mean(axis=1)
    steps = np.diff(xs)
    assert steps.max() < 0.2, f"the picture moves back at frame {int(steps.argmax())}"
    assert np.abs(steps).max() < 1.5
    assert np.ptp(track[..., 1], axis=0).max() < 0.4  # no vertical drift
    crop = 2 * round(2 * W / PAN_ZOOM / 2)
    per_frame = (2 * W - crop) / (ken_burns.visual_frames(1) - 1) * W / crop
    planned = xs[0] - per_frame * np.arange(len(xs))
    assert np.abs(xs - planned).max() < 1.5
    assert xs[0] - xs[-1] == pytest.approx(per_frame * (len(xs) - 1), abs=1.5)


def test_composed_zoom_never_moves_a_feature_back(ken_burns: KenBurns) -> None:
    """In the compositor's frames every off-centre feature moves outward on every frame."""
    frames = ken_burns.frames_alone(0)
    track = _track(ken_burns.composed[frames.start: frames.stop])
    centre = ((W - 1) / 2, (H - 1) / 2)
    assert _worst_zoom_back_step(track, centre) <= BACK_TOLERANCE


def test_composed_pan_moves_in_half_pixel_steps(ken_burns: KenBurns) -> None:
    """In the compositor's frames the pan never moves back and steps one 2x pixel at most."""
    frames = ken_burns.frames_alone(1)
    xs = _track(ken_burns.composed[frames.start: frames.stop])[..., 0]
    steps = np.diff(xs, axis=0)
    assert steps.max() <= BACK_TOLERANCE
    half_pixel = W / (2 * round(2 * W / PAN_ZOOM / 2))  # one 2x pixel of the crop, on screen
    assert -steps.min() <= half_pixel + BACK_TOLERANCE



def _whole_pixel_step(before: np.ndarray, after: np.ndarray) -> tuple[int, int]:
    """The (dx, dy) in -1..1 by which `after` is `before` moved, exactly; fails if none is."""
    h, w = before.shape
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            moved = after[max(0, dy): h + min(0, dy), max(0, dx): w + min(0, dx)]
            kept = before[max(0, -dy): h + min(0, -dy), max(0, -dx): w + min(0, -dx)]
            if np.array_equal(moved, kept):
                return dx, dy
    raise AssertionError("the frame is not the one before moved by a whole pixel at most")


@pytest.mark.parametrize(("motion", "direction"), [("pan_right", (-1, 0)), ("pan_up", (0, 1)),
                                                   ("zoom_in", (-1, -1))])
def test_generated_background_drifts_one_way_a_pixel_at_a_time(
        motion: str, direction: tuple[int, int], small_preset: Preset, tmp_path: Path) -> None:
    """A generated background is a window moving across one larger frame: each frame is the
    one before moved by a whole pixel at most, always the same way, across all the room."""
    big_w, big_h = _drift_size(small_preset)
    _spot_picture(tmp_path / "background.png", big_w, big_h)
    frames = 90
    visual = Visual("generated", 0.0, frames / FPS, motion)
    argv = piece_argv(Piece(0, 0, frames, 0), [PreparedVisual(visual, "background.png", 0,
                                                              frames)], small_preset)
    raw = subprocess.run(argv, cwd=tmp_path, capture_output=True, check=True, timeout=60).stdout
    luma = np.frombuffer(raw, np.uint8).reshape(-1, W * H * 3 // 2)[:, : W * H]
    assert len(luma) == frames
    luma = luma.reshape(-1, H, W)
    steps = np.array([_whole_pixel_step(a, b) for a, b in zip(luma, luma[1:], strict=False)])
    for axis, (sign, room) in enumerate(zip(direction, (big_w - W, big_h - H), strict=True)):
        along = steps[:, axis]
        assert set(along.tolist()) <= {0, sign}  # one way only (or not at all)
        assert abs(along.sum()) == (room if sign else 0)

# --- pictures of any shape, and clips ---------------------------------------------------------

TONE_HZ = 1000
STRIPE_LEFT, STRIPE_RIGHT = (60, 200, 90), (210, 80, 90)


def _wide_picture(path: Path) -> None:
    """A 3:1 picture: a green-to-red ramp with a white circle in the middle."""
    width, height = 900, 300
    ramp = np.linspace(0.0, 1.0, width)[None, :, None]
    left, right = np.array(STRIPE_LEFT), np.array(STRIPE_RIGHT)
    pixels = np.broadcast_to(left * (1 - ramp) + right * ramp, (height, width, 3))
    picture = Image.fromarray(pixels.astype(np.uint8))
    ImageDraw.Draw(picture).ellipse((340, 40, 560, 260), fill=(255, 255, 255))
    picture.save(path)


@dataclass
class MediaRender:
    """A wide still then a 16:9 clip, rendered with the clip's sound kept or dropped."""

    timeline: Timeline
    out: Path
    clip: Path


def _media_render(root: Path, preset: Preset, keep_audio: bool) -> MediaRender:
    _wide_picture(root / "wide.png")
    clip = root / "clip.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=320x180:rate=30:d=3", "-f", "lavfi", "-i",
                    f"sine=f={TONE_HZ}:r=48000:d=3", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", str(clip)], check=True, timeout=60)
    media = [MediaItem(root / "wide.png", "still"), MediaItem(clip, "clip", keep_audio)]
    timeline = _two_scene_timeline(root, preset, media, ((0.1, 2.3), (2.55, 3.8)), 4.0)
    render_timeline(timeline, root / "work", root / "video.mp4",
                    options=RenderOptions(timeout=120))
    return MediaRender(timeline, root / "video.mp4", clip)


@pytest.fixture(scope="module")
def with_sound(tmp_path_factory: pytest.TempPathFactory, small_preset: Preset) -> MediaRender:
    """The media timeline with the clip's own sound kept under the voice."""
    return _media_render(tmp_path_factory.mktemp("with_sound"), small_preset, True)


@pytest.fixture(scope="module")
def without_sound(tmp_path_factory: pytest.TempPathFactory, small_preset: Preset) -> MediaRender:
    """The media timeline with the clip's own sound dropped."""
    return _media_render(tmp_path_factory.mktemp("without_sound"), small_preset, False)


def _decode_rgb(video: Path, size: tuple[int, int] = (W, H), vf: str = "") -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(video),
                          *(["-vf", vf] if vf else []), "-f", "rawvideo", "-pix_fmt", "rgb24",
                          "-"], capture_output=True, check=True, timeout=60).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, size[1], size[0], 3)


def _luma(pixels: np.ndarray) -> float:
    return float((pixels.astype(np.float64) @ [0.2126, 0.7152, 0.0722]).mean())


def test_wide_still_fills_the_frame_without_distortion(with_sound: MediaRender) -> None:
    """A 3:1 still shows whole, undistorted, over a blurred copy: no black bars anywhere."""
    timeline = with_sound.timeline
    assert timeline.visuals[0].kind == "still"
    frames = _decode_rgb(with_sound.out)
    alone = _frames_alone(timeline, 0)
    for n in alone:
        frame = frames[n]
        for edge in (frame[:, :3], frame[:, -3:], frame[:3], frame[-3:]):
            assert _luma(edge) > 25, f"black bar at frame {n}"
        white = frame.min(axis=2) > 215
        rows, cols = np.nonzero(white)
        height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
        assert width == pytest.approx(height, rel=0.06), f"circle squashed at frame {n}"
        assert white.sum() / (width * height) == pytest.approx(np.pi / 4, abs=0.06)
    # Before the zoom starts, the picture's whole width shows: its left and right ends.
    first = frames[alone.start].astype(np.int16)
    assert first[H // 2, 1, 1] > first[H // 2, 1, 0] + 60  # green end on the left
    assert first[H // 2, -2, 0] > first[H // 2, -2, 1] + 60  # red end on the right
    assert _luma(first[: H // 4]) < _luma(first[H // 2 - 20: H // 2 + 20])  # darkened backdrop


def test_clip_plays_trimmed_and_fitted_in_its_span(with_sound: MediaRender) -> None:
    """During its span the frames show the clip from its start (fitted across the width, over
    a blurred fill); before and after, they do not."""
    timeline = with_sound.timeline
    clip_visual = timeline.visuals[1]
    assert clip_visual.kind == "clip" and clip_visual.duration < 3.0  # trimmed to the scene
    frames = _decode_rgb(with_sound.out).astype(np.int16)
    fitted_h = 152  # 320x180 fitted across 270 px
    top = (H - fitted_h) // 2
    reference = _decode_rgb(with_sound.clip, (W, fitted_h), f"scale={W}:{fitted_h}")
    inner = slice(top + 4, top + fitted_h - 4)
    ref_inner = reference[:, 4:fitted_h - 4].astype(np.int16)

    def best(n: int) -> tuple[int, float]:
        errors = np.abs(ref_inner - frames[n][inner]).mean(axis=(1, 2, 3))
        return int(errors.argmin()), float(errors.min())

    alone = _frames_alone(timeline, 1)
    first = round(clip_visual.start * FPS)
    for n in (alone.start, (alone.start + alone.stop) // 2, alone.stop - 1):
        shown, error = best(n)
        assert error < 20, f"frame {n} does not show the clip"
        assert abs(shown - (n - first)) <= 1, f"frame {n} shows clip frame {shown}"
        padding = frames[n][: top - 2]
        assert _luma(padding) > 25 and padding.std() > 5  # a blurred fill, not black bars
    for n in (_frames_alone(timeline, 0).stop - 5, _frames_alone(timeline, 2).start + 5):
        assert best(n)[1] > 40, f"frame {n} shows the clip outside its span"


def _band_db(samples: np.ndarray, low: float, high: float, window: float = 0.1,
             rate: int = 48000) -> np.ndarray:
    """Power (dB) between low and high Hz in consecutive windows."""
    size = int(rate * window)
    count = len(samples) // size
    spectrum = np.abs(np.fft.rfft(samples[: count * size].reshape(count, size)
                                  * np.hanning(size), axis=1)) ** 2
    freqs = np.fft.rfftfreq(size, 1 / rate)
    return 10 * np.log10(spectrum[:, (freqs >= low) & (freqs <= high)].sum(axis=1) / size**2
                         + 1e-20)


def test_clip_sound_is_kept_under_the_voice_or_dropped(with_sound: MediaRender,
                                                       without_sound: MediaRender,
                                                       media) -> None:
    """The clip's 1 kHz tone sounds in its span, below the voice, only with keep_audio."""
    span = with_sound.timeline.visuals[1]
    kept = media["audio"](with_sound.out)
    dropped = media["audio"](without_sound.out)
    tone_kept, tone_dropped = (_band_db(a, TONE_HZ - 50, TONE_HZ + 50) for a in (kept, dropped))
    voice_kept = _band_db(kept, 250, 350)
    times = np.arange(len(tone_kept)) * 0.1 + 0.05
    inside = (times > span.start + 0.15) & (times < span.end - 0.15)
    outside = (times < span.start - 0.15) | (times > span.end + 0.15)
    assert np.median(tone_kept[inside]) > np.median(tone_dropped[inside]) + 30
    assert tone_kept[outside].max() < np.median(tone_kept[inside]) - 30
    speaking = inside & (times > 2.7) & (times < 3.7)  # the second scene is spoken 2.55-3.8 s
    assert speaking.sum() >= 5
    assert np.median(voice_kept[speaking] - tone_kept[speaking]) > 10


def test_media_renders_have_no_black_frames(with_sound: MediaRender) -> None:
    """A still, a clip and the end card, through their transitions: no frame goes black."""
    luma = _decode_grey(with_sound.out).mean(axis=(1, 2))
    fade = round(with_sound.timeline.fade_out * FPS)
    assert luma[: -fade - 1].min() > 40
