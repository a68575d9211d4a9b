"""The render stage: one renderer turns a `Timeline` into the MP4 (or a draft preview).

Frames are composed piece by piece by short ffmpeg processes (stills move with `zoompan`
on a 2x oversampled copy, generated backgrounds drift as a window over one frame, clips are
trimmed and fitted, and only the frames of a transition are blended; a clip blended into is
decoded ahead, before the encoder starts) that write raw frames into one long-running
encoder process, which overlays the text cards and captions (drawn once each, as images),
the logo and the fade, encodes H.264 and copies the mix's AAC. Only two visuals are ever in
memory, so memory stays flat however long the video; Python only prepares layers (fitted
stills, backgrounds, text images, the audio mix). moviepy's per-frame compositing in Python
measured many times slower and grew to gigabytes, so it is not used on this path.
"""

from __future__ import annotations

import contextvars
import subprocess
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Protocol

from pipeline.render.audio_mix import mix_audio
from pipeline.render.caption_images import CaptionBand, caption_overlay, draw_caption_band
from pipeline.render.card_images import draw_card_images
from pipeline.render.card_lanes import CardLane, lane_overlays
from pipeline.render.presets import Preset
from pipeline.render.stills import aspect_difference, fill_frame
from pipeline.render.timeline import KEN_BURNS_ZOOM, Brand, Timeline, Visual
from pipeline.render.visuals import PALETTES, brand_palettes, render_background
from pipeline.tools import ToolError, checkpoint, probe, run, supervised, wait_supervised
from pipeline.types import ProgressCallback, no_progress

QUALITIES = ("draft", "standard", "high")
LOGO_WIDTH = 0.14  # of the frame width
PAN_ZOOM = 1.1  # pans need room to move: the picture is this much larger than the frame


@dataclass(frozen=True)
class RenderOptions:
    """How to run the encoder."""

    quality: str = "standard"  # draft (fast, half size), standard, high (x264 medium)
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"
    threads: int = 0
    timeout: float = 1800.0


def output_preset(preset: Preset, quality: str) -> Preset:
    """The preset a quality really encodes with."""
    if quality == "high":
        return replace(preset, video_preset="medium")
    if quality == "draft":
        return replace(preset, width=preset.width // 4 * 2, height=preset.height // 4 * 2,
                       video_preset="ultrafast", video_crf=30)
    return preset


def encoder_args(preset: Preset, *, threads: int = 0, copy_audio: bool = False) -> list[str]:
    """The output settings every preset fixes (the benchmark floor uses the same); with
    `copy_audio` the sound is already encoded with them (mix_audio's M4A) and only copied."""
    p = preset
    gop = round(p.fps * p.keyframe_seconds)
    audio = (["-c:a", "copy"] if copy_audio else
             ["-c:a", "aac", "-b:a", f"{p.audio_bitrate_kbps}k", "-ar", str(p.audio_rate),
              "-ac", "2"])
    return [
        "-c:v", "libx264", "-preset", p.video_preset, "-crf", str(p.video_crf),
        "-maxrate", f"{p.video_maxrate_kbps}k", "-bufsize", f"{2 * p.video_maxrate_kbps}k",
        "-profile:v", "high", "-pix_fmt", "yuv420p", "-r", str(p.fps),
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
        "-color_range", "tv", "-threads", str(threads), *audio,
        "-movflags", "+faststart",
    ]


@dataclass(frozen=True)
class PreparedVisual:
    """A visual's input file for ffmpeg (relative to the work folder) and its frame span."""

    visual: Visual
    file: str
    first_frame: int
    frames: int
    size: tuple[int, int] | None = None  # a clip's own size


@dataclass(frozen=True)
class Piece:
    """Frames [start, end) of the video: one visual, blending into the next at its end."""

    index: int  # of its visual
    start: int
    end: int
    blend_frames: int  # frames of the outgoing transition (0 for the last piece)
    transition: str = "fade"


def plan_pieces(timeline: Timeline, fps: int) -> list[Piece]:
    """Cut the video where each incoming transition ends; every frame in exactly one piece."""
    total = round(timeline.duration * fps)
    starts = [0]
    blends = []
    for transition in timeline.transitions:
        first = round(transition.start * fps)
        blend = round(transition.duration * fps)
        blends.append((first, blend, transition.kind))
        starts.append(first + blend)
    pieces = []
    for i, start in enumerate(starts):
        if i < len(blends):
            first, blend, kind = blends[i]
            pieces.append(Piece(i, start, first + blend, blend, kind))
        else:
            pieces.append(Piece(i, start, total, 0))
    return pieces


def _zoompan(visual: Visual, offset: int, count: int, total: int, width: int, height: int,
             fps: int) -> str:
    """zoompan for `count` frames of a Ken Burns move, from frame `offset` of `total`.

    zoompan crops whole pixels of a 2x copy, i.e. half pixels on screen. The crop width is
    kept even, so a centred crop lands on whole pixels and every edge only ever moves one
    way: the back-and-forth jitter of plain zoompan cannot happen.
    """
    big_w, big_h = 2 * width, 2 * height
    z0, z1 = {"zoom_in": (1.0, 1.0 + KEN_BURNS_ZOOM),
              "zoom_out": (1.0 + KEN_BURNS_ZOOM, 1.0)}.get(visual.motion, (PAN_ZOOM, PAN_ZOOM))
    progress = f"((on+{offset})/{max(1, total - 1)})"
    crop_w = f"(2*round({big_w}/({z0}+({z1 - z0:.6f})*{progress})/2))"
    crop_h = f"trunc({big_h}*({crop_w}+0.25)/{big_w})"
    # zoompan truncates w = iw/zoom; the extra quarter pixel keeps it on the even value.
    zoom = f"{big_w}/({crop_w}+0.25)"
    x = f"({big_w}-{crop_w})/2"
    y = f"({big_h}-{crop_h})/2"
    if visual.motion == "pan_right":
        x = f"({big_w}-{crop_w})*{progress}"
    elif visual.motion == "pan_left":
        x = f"({big_w}-{crop_w})*(1-{progress})"
    elif visual.motion == "pan_down":
        y = f"({big_h}-{crop_h})*{progress}"
    elif visual.motion == "pan_up":
        y = f"({big_h}-{crop_h})*(1-{progress})"
    return f"zoompan=z='{zoom}':x='{x}':y='{y}':d={count}:s={width}x{height}:fps={fps}"


# Decoder threads for a clip: each frame thread holds its own frames, so the automatic
# count (one more than the cores) made a piece's memory depend on the machine and on which
# clips meet (two 1440x2560 decoders: 280 MB). Two keep up with the encoder; the clip a
# piece blends into gives only its transition's frames, and one thread does that.
CLIP_DECODER_THREADS = 2
BLEND_DECODER_THREADS = 1


def _input_args(prepared: PreparedVisual, offset: int, count: int, fps: int, *,
                threads: int = CLIP_DECODER_THREADS) -> list[str]:
    if prepared.visual.kind == "clip":
        start = prepared.visual.clip_in + offset / fps
        return ["-threads", str(threads), "-ss", f"{start:.3f}", "-t",
                f"{count / fps + 1:.3f}", "-i", prepared.file]
    # A still is decoded once: decoder threads would only add their buffers.
    return ["-threads", "1", "-i", prepared.file]


def _drift_size(preset: Preset) -> tuple[int, int]:
    """A generated background's size: PAN_ZOOM larger than the frame, to drift across."""
    return (round(preset.width * PAN_ZOOM / 2) * 2, round(preset.height * PAN_ZOOM / 2) * 2)


# Where a generated background's window goes, per motion: (x, y) from 0 (left/top edge) to
# 1 (right/bottom) over the visual; zooms become diagonal drifts.
_DRIFTS = {"pan_right": ("p", "0.5"), "pan_left": ("1-p", "0.5"), "pan_down": ("0.5", "p"),
           "pan_up": ("0.5", "1-p"), "zoom_out": ("1-p", "1-p")}


def _drift(visual: Visual, offset: int, total: int, preset: Preset) -> str:
    """A crop window moving one way across the background, a whole pixel at a time."""
    big_w, big_h = _drift_size(preset)
    progress = f"((n+{offset})/{max(1, total - 1)})"
    fx, fy = _DRIFTS.get(visual.motion, ("p", "p"))
    x = fx.replace("p", progress)
    y = fy.replace("p", progress)
    return (f"crop={preset.width}:{preset.height}:x='({big_w - preset.width})*({x})':"
            f"y='({big_h - preset.height})*({y})':exact=1")


def _chain(label: str, source: int, prepared: PreparedVisual, offset: int, count: int,
           preset: Preset) -> str:
    """Frames [offset, offset + count) of one visual, as yuv420p BT.709 at the preset size."""
    p = preset
    if prepared.visual.kind == "clip":
        return _clip_chain(label, source, prepared, count, preset)
    if prepared.visual.kind == "generated":
        # A soft gradient has no detail for a zoom to show: it drifts instead, a window
        # cropped from one still frame, which costs no resampling at all (zoompan on it
        # was most of an idea video's composition). Whole-pixel steps, and chroma a half
        # pixel off on odd steps, are invisible on a gradient; on a photo they would not be.
        big_w, big_h = _drift_size(p)
        return (f"[{source}:v]scale={big_w}:{big_h}:out_color_matrix=bt709:out_range=tv,"
                f"format=yuv420p,loop=loop={count - 1}:size=1,settb=1/{p.fps},setpts=N,"
                f"fps={p.fps},{_drift(prepared.visual, offset, prepared.frames, p)},"
                f"setsar=1[{label}]")
    motion = _zoompan(prepared.visual, offset, count, prepared.frames, p.width, p.height, p.fps)
    # The colour conversion runs once, on the still, not on every frame zoompan makes.
    # 4:4:4 before zoompan: with subsampled chroma it rounds crop offsets to even pixels,
    # which makes the picture step back and forth by half a pixel.
    still_709 = (f"scale={2 * p.width}:{2 * p.height}:out_color_matrix=bt709:out_range=tv,"
                 "format=yuv444p")
    return (f"[{source}:v]{still_709},{motion},format=yuv420p,setsar=1,"
            f"settb=1/{p.fps},setpts=N[{label}]")


def _clip_chain(label: str, source: int, prepared: PreparedVisual, count: int,
                preset: Preset) -> str:
    """A clip at the frame rate, cropped to the frame, or fitted over a blurred fill."""
    p = preset
    w, h = p.width, p.height
    to_709 = f"scale={w}:{h}:out_color_matrix=bt709:out_range=tv,format=yuv420p"
    fit = f"scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h}"
    if prepared.size and aspect_difference(prepared.size, (w, h)) > 0.2:
        # A very different shape: the clip over a blurred, filled copy of itself. The fill
        # is blurred at an eighth of the frame and scaled up: the same softness for a
        # fortieth of the pixels (blurring it full size cost a third of a clip's render).
        sw, sh = round(w / 16) * 2, round(h / 16) * 2
        fit = (f"split[{label}a][{label}b];[{label}a]scale={sw}:{sh}:"
               f"force_original_aspect_ratio=increase,crop={sw}:{sh},boxblur=3:2,"
               f"scale={w}:{h}:flags=bilinear[{label}bg];"
               f"[{label}b]scale={w}:{h}:force_original_aspect_ratio=decrease[{label}fg];"
               f"[{label}bg][{label}fg]overlay=(W-w)/2:(H-h)/2")
    return (f"[{source}:v]fps={p.fps},{fit},{to_709},setsar=1,"
            f"tpad=stop_mode=clone:stop={count},trim=end_frame={count},"
            f"settb=1/{p.fps},setpts=N[{label}]")


def _blend(piece: Piece, count: int, fps: int) -> str:
    """[a] into [b] over the piece's last blend_frames, as [out].

    Only a's last frames go through the blend: xfade works on every frame it is given,
    even those before its offset, which made a piece with a transition cost several times
    one without.
    """
    blend_s = piece.blend_frames / fps
    head = count - piece.blend_frames
    tail = "a"
    chains = []
    if head > 0:
        chains.append(f"[a]split[ah][at];[ah]trim=end_frame={head}[head];"
                      f"[at]trim=start_frame={head},setpts=PTS-STARTPTS[tail]")
        tail = "tail"
    mixed = "out" if head == 0 else "mix"
    # (An overlay with a fading alpha mixes the same for a little less CPU, but its frame
    # sync held a second or two of frames: half a gigabyte more at 1080x1920.)
    chains.append(f"[{tail}][b]xfade=transition={piece.transition}:"
                  f"duration={blend_s:.4f}:offset=0[{mixed}]")
    if head > 0:
        chains.append("[head][mix]concat=n=2:v=1:a=0[out]")
    return ";".join(chains)


# A blend into a clip would decode that clip in the piece beside the piece's own visual: a
# second decoder and fit chain held all piece long, 38 MB more than a blend into a still
# (W3's clip blending into another part of itself grew its 180 s peak by 10 %). Those few
# frames are made ahead instead, before the encoder starts, fitted as the clip's own piece
# fits them, and read back raw: no decoder, one frame queued. (Ut Video took a quarter of
# the disk but about 10 CPU ms a frame each way: W5 at 15 s cost 5.6 % more CPU than with
# the second decoder, raw frames 3.3 %.) Raw frames take disk, so only this many bytes of
# them are made ahead (a blend of half a second at 1080x1920 is 47 MB); the blends after
# that decode their clip in the piece.
BLEND_AHEAD_BYTES = 2 << 30


def blend_file(piece: Piece) -> str:
    """The file a piece reads its made-ahead blend frames from."""
    return f"blend_{piece.end:06d}.nut"


def blend_ahead_argv(piece: Piece, visuals: Sequence[PreparedVisual], preset: Preset,
                     ffmpeg: str = "ffmpeg") -> list[str] | None:
    """The run that makes `blend_file(piece)`, for a piece that blends into a clip (else
    None): the clip's first `blend_frames` frames, as its own piece would show them."""
    if not piece.blend_frames or visuals[piece.index + 1].visual.kind != "clip":
        return None
    following, count = visuals[piece.index + 1], piece.blend_frames
    return [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-filter_complex_threads", "1",
            *_input_args(following, 0, count, preset.fps, threads=BLEND_DECODER_THREADS),
            "-filter_complex", _chain("b", 0, following, 0, count, preset),
            "-map", "[b]", "-frames:v", str(count), "-c:v", "rawvideo", "-f", "nut",
            blend_file(piece)]


def blends_ahead(plan: Sequence[tuple[Piece, Sequence[PreparedVisual]]], preset: Preset,
                 ffmpeg: str = "ffmpeg", budget: int = BLEND_AHEAD_BYTES
                 ) -> list[list[str] | None]:
    """For each piece of the plan, the run that makes its blend frames ahead, or None: for
    blends into clips, in order, while their raw frames fit in `budget` bytes."""
    frame_bytes = preset.width * preset.height * 3 // 2
    runs: list[list[str] | None] = []
    for piece, shown in plan:
        argv = blend_ahead_argv(piece, shown, preset, ffmpeg)
        if argv and piece.blend_frames * frame_bytes <= budget:
            budget -= piece.blend_frames * frame_bytes
            runs.append(argv)
        else:
            runs.append(None)
    return runs


def piece_argv(piece: Piece, visuals: Sequence[PreparedVisual], preset: Preset,
               ffmpeg: str = "ffmpeg", *, blend_made_ahead: bool = False) -> list[str]:
    """One compositor run: the piece's raw yuv420p frames on stdout (pure: data only); with
    `blend_made_ahead` the visual it blends into comes from `blend_file(piece)`."""
    fps = preset.fps
    current = visuals[piece.index]
    count = piece.end - piece.start
    offset = piece.start - current.first_frame
    # One filter thread: the encoder keeps every core busy, and each slice thread of the
    # 2x filters would hold its own buffers (a third more memory, no faster).
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
            "-filter_complex_threads", "1", *_input_args(current, offset, count, fps)]
    chains = [_chain("a", 0, current, offset, count, preset)]
    out = "a"
    if piece.blend_frames:
        if blend_made_ahead:
            # (with the demuxer's usual queue of 8 raw frames the piece held 17 MB more)
            argv += ["-thread_queue_size", "1", "-i", blend_file(piece)]
            chains.append(f"[1:v]setsar=1,settb=1/{fps},setpts=N[b]")
        else:
            following = visuals[piece.index + 1]
            argv += _input_args(following, 0, piece.blend_frames, fps,
                                threads=BLEND_DECODER_THREADS)
            chains.append(_chain("b", 1, following, 0, piece.blend_frames, preset))
        chains.append(_blend(piece, count, fps))
        out = "out"
    return argv + ["-filter_complex", ";".join(chains), "-map", f"[{out}]",
                   "-frames:v", str(count), "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"]


def _continues(a: PreparedVisual, b: PreparedVisual, fps: int) -> bool:
    """Whether b plays a's clip on from where a is (a long scene cut into visuals): their
    transition would blend each frame with itself."""
    va, vb = a.visual, b.visual
    return (va.kind == vb.kind == "clip" and va.source == vb.source
            and abs((vb.clip_in - vb.start) - (va.clip_in - va.start)) < 0.5 / fps)


def merge_continuing(pieces: Sequence[Piece], visuals: Sequence[PreparedVisual], fps: int
                     ) -> list[tuple[Piece, Sequence[PreparedVisual]]]:
    """Each piece with the visuals its argv reads; a clip that plays on through the visuals
    after it becomes one piece, so it is decoded once, straight through, never blended with
    itself (the frames are the same: nothing on screen changes)."""
    merged: list[tuple[Piece, Sequence[PreparedVisual]]] = []
    i = 0
    while i < len(pieces):
        j = i
        while (j + 1 < len(pieces) and pieces[j].blend_frames
               and _continues(visuals[j], visuals[j + 1], fps)):
            j += 1
        if j == i:
            merged.append((pieces[i], visuals))
        else:
            first, last = visuals[i], visuals[j]
            whole = replace(first, frames=last.first_frame + last.frames - first.first_frame)
            shown = [whole, *visuals[j + 1: j + 2]]  # the clip, then what it blends into
            merged.append((Piece(0, pieces[i].start, pieces[j].end, pieces[j].blend_frames,
                                 pieces[j].transition), shown))
        i = j + 1
    return merged


def encoder_argv(timeline: Timeline, preset: Preset, *, cards: Sequence[CardLane],
                 captions: CaptionBand | None = None, captions_ass: str | None = None,
                 logo: str | None, audio: str, out: str, ffmpeg: str = "ffmpeg",
                 threads: int = 0, audio_encoded: bool = False) -> list[str]:
    """The encoder run: raw frames on stdin, text cards, captions (their images, or libass
    drawing `captions_ass` on every frame), logo and fade drawn, H.264 + AAC out (`audio`
    copied when `audio_encoded`, else encoded here)."""
    p = preset
    total = round(timeline.duration * p.fps)
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-progress", "pipe:2",
            # The demuxer queues 8 packets by default, here 8 whole frames (25 MB at
            # 1080x1920) whenever the pieces run ahead; the pipe itself is the buffer.
            "-y", "-thread_queue_size", "2",
            "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{p.width}x{p.height}",
            "-framerate", str(p.fps), "-i", "pipe:0"]
    card_inputs, chains, video = lane_overlays(cards, p.fps, 1, "[0:v]")
    argv += card_inputs
    logo_input = 1 + len(cards)
    if captions:
        caption_input, caption_chains, video = caption_overlay(captions, logo_input, video)
        argv += caption_input
        chains += caption_chains
        logo_input += 1
    if logo:
        argv += ["-i", logo]
    argv += ["-i", audio]
    video += f"ass={captions_ass}" if captions_ass else "null"
    if logo:
        logo_w = round(p.width * LOGO_WIDTH) // 2 * 2
        x = round(p.width * p.safe_zone.left) + p.width // 40
        y = round(p.height * p.safe_zone.top) + p.width // 40
        chains.append(f"[{logo_input}:v]scale={logo_w}:-2,format=rgba,"
                      "colorchannelmixer=aa=0.85[logo]")
        video += f"[base];[base][logo]overlay=x={x}:y={y}:format=auto"
    if timeline.fade_out > 0:
        video += f",fade=t=out:st={total / p.fps - timeline.fade_out:.3f}:d={timeline.fade_out}"
    chains.append(video + ",format=yuv420p[vout]")
    return argv + ["-filter_complex", ";".join(chains), "-map", "[vout]",
                   "-map", f"{logo_input + (1 if logo else 0)}:a",
                   *encoder_args(p, threads=threads, copy_audio=audio_encoded),
                   # A frame limit ends the file as the last frame is encoded, dropping the
                   # copied sound queued after it; the pieces give exactly `total` frames.
                   *([] if audio_encoded else ["-frames:v", str(total)]), out]


def _prepare(timeline: Timeline, preset: Preset, workdir: Path,
             ffprobe: str = "ffprobe") -> list[PreparedVisual]:
    """Fitted stills at 2x and gradient backgrounds (at half size), made in parallel threads."""
    fps = preset.fps
    brand = timeline.brand
    palettes = (brand_palettes(brand.primary, brand.accent) if brand.primary != Brand.primary
                else PALETTES)

    def one(index: int, visual: Visual) -> PreparedVisual:
        first = round(visual.start * fps)
        frames = round(visual.end * fps) - first
        if visual.kind == "clip":
            info = probe(Path(str(visual.source)), ffprobe=ffprobe)
            size = (info.width, info.height) if info.width and info.height else None
            return PreparedVisual(visual, str(visual.source), first, frames, size)
        name = f"visual_{index:03d}.jpg"
        if visual.kind == "still":
            assert visual.source is not None
            fill_frame(visual.source, 2 * preset.width, 2 * preset.height, workdir / name)
        else:
            # Drawn at half size, a quarter of the pixels to draw and blur; the piece scales
            # it up once, and a soft gradient loses nothing by it.
            width, height = _drift_size(preset)
            render_background(visual.palette_index, width // 2, height // 2, workdir / name,
                              palettes=palettes)
        return PreparedVisual(visual, name, first, frames)

    with ThreadPoolExecutor(max_workers=2) as pool:
        # Each call runs in a copy of this context, so the stage's stop scope reaches it.
        futures = [pool.submit(contextvars.copy_context().run, one, index, visual)
                   for index, visual in enumerate(timeline.visuals)]
        return [future.result() for future in futures]


def _clip_audio(timeline: Timeline) -> list[tuple[Path, float, float, float]]:
    return [(Path(str(v.source)), v.start, v.clip_in, v.duration)
            for v in timeline.visuals if v.kind == "clip" and v.keep_audio]


def render_timeline(timeline: Timeline, workdir: Path, out: Path, *,
                    options: RenderOptions | None = None,
                    on_progress: ProgressCallback = no_progress) -> Preset:
    """Render the timeline to `out`; returns the preset the file was encoded with."""
    options = options or RenderOptions()
    preset = output_preset(timeline.preset, options.quality)
    workdir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=1) as audio_pool, \
            ThreadPoolExecutor(max_workers=2) as blend_pool:
        mixed = audio_pool.submit(
            contextvars.copy_context().run, mix_audio, timeline.voice, workdir / "mix.wav",
            duration=timeline.duration,
            music=timeline.music, music_gain_db=timeline.music_gain_db,
            clip_audio=_clip_audio(timeline),
            sample_rate=preset.audio_rate, aac_bitrate_kbps=preset.audio_bitrate_kbps,
            encoded_out=workdir / "mix.m4a",
            ffmpeg=options.ffmpeg, ffprobe=options.ffprobe, timeout=options.timeout)
        visuals = _prepare(timeline, preset, workdir, options.ffprobe)
        plan = merge_continuing(plan_pieces(timeline, preset.fps), visuals, preset.fps)
        ahead = blends_ahead(plan, preset, options.ffmpeg)
        # Made beside the text drawing, before the encoder and the pieces hold their memory.
        blends = [blend_pool.submit(contextvars.copy_context().run, run, argv,
                                    timeout=options.timeout, cwd=workdir)
                  for argv in ahead if argv]
        on_progress(0.05)
        cards = draw_card_images(timeline.texts, preset, workdir, timeline.brand,
                                 ffmpeg=options.ffmpeg, timeout=options.timeout)
        band, captions = None, None
        if timeline.captions is not None:
            band = draw_caption_band(timeline.captions, preset, workdir, ffmpeg=options.ffmpeg,
                                     timeout=options.timeout)
            if band is None:  # text that moves: libass draws it on every frame
                captions = "captions.ass"
                (workdir / captions).write_bytes(timeline.captions.read_bytes())
        mixed.result()
        for blend in blends:
            blend.result()
    on_progress(0.1)
    out.parent.mkdir(parents=True, exist_ok=True)
    logo = str(timeline.brand.logo) if timeline.brand.logo else None
    encoder = encoder_argv(timeline, preset, cards=cards, captions=band, captions_ass=captions,
                           logo=logo, audio="mix.m4a", out=str(out.resolve()),
                           ffmpeg=options.ffmpeg, threads=options.threads, audio_encoded=True)
    pieces = [piece_argv(piece, shown, preset, options.ffmpeg, blend_made_ahead=bool(made))
              for (piece, shown), made in zip(plan, ahead, strict=True)]
    _run_pipeline(encoder, pieces, workdir, timeline.duration, options.timeout,
                  lambda f: on_progress(0.1 + 0.9 * f))
    return preset


def _run_pipeline(encoder: list[str], pieces: list[list[str]], workdir: Path, seconds: float,
                  timeout: float, on_progress: ProgressCallback) -> None:
    """Feed each piece's frames, in order, into the encoder's stdin; fail with its stderr."""
    checkpoint()
    proc = subprocess.Popen(encoder, cwd=workdir, stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=False)
    with supervised(proc):
        _feed_encoder(proc, encoder, pieces, workdir, seconds, timeout, on_progress)


def _run_piece(argv: list[str], workdir: Path, stdout: IO[bytes], timeout: float) -> None:
    """One piece's frames into the encoder's stdin; a stop kills the piece too."""
    piece = subprocess.Popen(argv, cwd=workdir, stdout=stdout, stderr=subprocess.PIPE)
    wait_supervised(piece, argv, timeout)


def _feed_encoder(proc: subprocess.Popen[bytes], encoder: list[str], pieces: list[list[str]],
                  workdir: Path, seconds: float, timeout: float,
                  on_progress: ProgressCallback) -> None:
    errors: list[str] = []

    def follow() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace").strip()
            key, _, value = line.partition("=")
            if key == "out_time_us" and value.isdigit() and seconds > 0:
                on_progress(min(1.0, int(value) / 1e6 / seconds))
            elif "=" not in line and line:
                errors.append(line)

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        assert proc.stdin is not None
        for argv in pieces:
            _run_piece(argv, workdir, proc.stdin, timeout)
        proc.stdin.close()
        returncode = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        timer.cancel()
        reader.join(timeout=5)
        if proc.stdin and not proc.stdin.closed:
            proc.stdin.close()
        if proc.stderr:
            proc.stderr.close()
    if returncode != 0:
        raise ToolError(encoder, returncode, "\n".join(errors))


class Renderer(Protocol):
    """Turns a timeline into a video file (renderers plug in here; ffmpeg is the one)."""

    name: str

    def render(self, timeline: Timeline, workdir: Path, out: Path, *,
               options: RenderOptions | None = None,
               on_progress: ProgressCallback = no_progress) -> Preset:
        """Render to `out`; return the preset the file was encoded with."""


class FfmpegRenderer:
    """The compositor above: short ffmpeg processes into one encoder."""

    name = "ffmpeg"

    def render(self, timeline: Timeline, workdir: Path, out: Path, *,
               options: RenderOptions | None = None,
               on_progress: ProgressCallback = no_progress) -> Preset:
        """Render to `out`; return the preset the file was encoded with."""
        return render_timeline(timeline, workdir, out, options=options,
                               on_progress=on_progress)
