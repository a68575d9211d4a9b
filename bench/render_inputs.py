"""Inputs of the render benchmarks W1–W5, as the render stage finds them in storage.

Each workload is what earlier stages leave for one kind of job: a script (written by our own
generators where one exists), an espeak-ng voiceover of exactly the video's length less the
end card, its karaoke captions, the pictures or clips the job shows and, where the job has
one, a music bed. Everything is generated here with fixed seeds, nothing is downloaded.

- W1, product (../shared/bench/W1.md): 5 stills per 30 s with Ken Burns, a price badge.
- W2, idea: generated backgrounds (the default visuals), title, headlines, music.
- W3, clip: an idea over an uploaded 1920×1080 60 fps clip whose own sound stays under the
  voice (no music); W3v: the same over a 1080×1920 30 fps clip, which needs no scaling.
- W4, compilation: 5 products with 2 pictures each, numbered scenes, price badges, sales
  struck through, music.
- W5, stock: 5 clips of different sizes and frame rates, one per scene, as a stock provider
  gives them (the smallest rendition that covers the frame, or the nearest), music.

Sizes are given for the 1080×1920 tiktok frame and scale with a smaller preset's width, so a
test can run every path small. `cache`, when given, keeps the slow media (stills, clips)
between runs: they depend only on their parameters.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.render_w1 import W1Parts, w1_parts
from bench.w1_inputs import STILL_SIZE, make_music, make_stills, speak_to_length
from pipeline.captions.build import build_captions
from pipeline.render.presets import Preset
from pipeline.render.timeline import END_CARD_SECONDS, Price
from pipeline.script.product import generate_product_script
from pipeline.script.template import TemplateScriptGenerator
from pipeline.sources.product import Product, ProductSource, parse_price
from pipeline.tools import run
from pipeline.types import IdeaSource, Script, Voiceover
from store.media import MediaStorage, artifact_key
from worker.stages import JobInput

WORDS_PER_SECOND = 2.5
SCENE_SECONDS = 6.0  # an idea's point is spoken in about this long
REFERENCE_WIDTH = 1080  # the sizes below are for this frame width (tiktok's)
PROFILE_MUSIC = "profiles/bench/music"


@dataclass(frozen=True)
class Upload:
    """A picture or clip the job shows, as the API or the script stage stores it."""

    path: Path
    kind: str  # "still" or "clip"
    keep_audio: bool = False
    duration: float | None = None


@dataclass(frozen=True)
class StagedJob:
    """What the render stage of one job reads: earlier stages' artifacts and the job's media.

    `uploads` are the job's own media (`options.media`); `brought` are the visuals the script
    stage found (product pictures, stock clips), stored in its visuals.json.
    """

    workload: str
    seconds: int
    preset: Preset
    source: dict[str, Any]
    script: Script
    voiceover: Voiceover
    voice_wav: Path
    captions_ass: Path
    uploads: tuple[Upload, ...] = ()
    brought: tuple[Upload, ...] = ()
    music: Path | None = None
    price: Price | None = None


def store_job(media: MediaStorage, staged: StagedJob, quality: str, job_id: str) -> JobInput:
    """Put a staged job's inputs where the stages and uploads leave them; its render job."""
    def key(stage: str, name: str) -> str:
        return artifact_key(job_id, stage, name)

    artifacts = {"script": key("script", "script.json"),
                 "voiceover": key("voice", "voiceover.json"),
                 "voice_wav": key("voice", "voice.wav"),
                 "captions_ass": key("captions", "captions.ass")}
    media.put_bytes(artifacts["script"], json.dumps(staged.script.to_dict()).encode())
    media.put_bytes(artifacts["voiceover"], json.dumps(
        {**staged.voiceover.to_dict(), "voice": "espeak"}).encode())
    media.put_file(artifacts["voice_wav"], staged.voice_wav)
    media.put_file(artifacts["captions_ass"], staged.captions_ass)

    def stored(upload: Upload, index: int) -> dict[str, Any]:
        name = f"{index:02d}-{upload.path.name}"
        return {"key": media.put_file(f"uploads/{job_id}/{name}", upload.path),
                "kind": upload.kind, "keep_audio": upload.keep_audio,
                "duration": upload.duration}

    options: dict[str, Any] = {"quality": quality,
                               "media": [stored(u, i) for i, u in enumerate(staged.uploads)]}
    if staged.brought:
        artifacts["visuals"] = key("script", "visuals.json")
        offset = len(staged.uploads)
        media.put_bytes(artifacts["visuals"], json.dumps(
            [stored(u, offset + i) for i, u in enumerate(staged.brought)]).encode())
    if staged.music is not None:
        media.put_file(f"{PROFILE_MUSIC}/{staged.music.name}", staged.music)
        options["brand"] = {"music_dir": PROFILE_MUSIC}
    if staged.price is not None:
        options["price"] = {"price": staged.price.price, "sale_price": staged.price.sale_price}
    return JobInput(job_id, staged.preset.name, staged.source, options, artifacts)


# --- shared pieces -----------------------------------------------------------------------


def _scaled(preset: Preset, length: int) -> int:
    """A length given for the 1080-wide frame, at this preset's scale (even, at least 16)."""
    return max(16, round(length * preset.width / REFERENCE_WIDTH / 2) * 2)


def _cached(cache: Path | None, work: Path, name: str, make: Callable[[Path], None]) -> Path:
    """cache/name (made once), or work/name when there is no cache."""
    folder = cache if cache is not None else work
    path = folder / name
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{name}.{os.getpid()}.partial{path.suffix}"
    make(partial)
    os.replace(partial, path)
    return path


def _stills(work: Path, cache: Path | None, count: int, preset: Preset) -> list[Path]:
    size = _scaled(preset, STILL_SIZE)
    folder = (cache if cache is not None else work) / f"stills-{size}"
    have = sorted(folder.glob("still_*.jpg")) if folder.exists() else []
    return have[:count] if len(have) >= count else make_stills(folder, count, size)


def make_clip(out: Path, picture: Path, size: tuple[int, int], fps: int, seconds: float, *,
              sound: Path | None = None, timeout: float = 1800.0) -> Path:
    """A camera clip: a slow hand-held drift over `picture`, with light sensor grain, as a
    phone or a stock site encodes it (H.264 High, a keyframe a second, up to 12 Mb/s at
    1080p60).
    `sound`, when given, is its audio track (AAC)."""
    width, height = size
    cover_w, cover_h = round(width * 1.2 / 2) * 2, round(height * 1.2 / 2) * 2
    pixel_rate = width * height * fps / (1920 * 1080 * 60)
    maxrate = max(2.0, 12.0 * pixel_rate)
    drift = (f"crop={width}:{height}:x='(iw-ow)*(0.5+0.45*sin(t*0.45))'"
             f":y='(ih-oh)*(0.5+0.45*sin(t*0.31+1))'")
    video = (f"[0:v]scale={cover_w}:{cover_h}:force_original_aspect_ratio=increase,"
             f"crop={cover_w}:{cover_h},loop=loop=-1:size=1,setpts=N/{fps}/TB,{drift},"
             "noise=alls=2:allf=t,format=yuv420p[v]")
    argv = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(picture)]
    if sound is not None:
        argv += ["-i", str(sound)]
    argv += ["-filter_complex", video, "-map", "[v]"]
    if sound is not None:
        argv += ["-map", "1:a", "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2"]
    argv += ["-t", f"{seconds:.3f}", "-r", str(fps), "-c:v", "libx264", "-preset", "superfast",
             "-crf", "17", "-maxrate", f"{maxrate:.1f}M", "-bufsize", f"{2 * maxrate:.1f}M",
             "-g", str(fps), "-profile:v", "high", "-pix_fmt", "yuv420p",
             "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
             "-f", "mp4", str(out)]
    run(argv, timeout=timeout)
    return out


def _clip(work: Path, cache: Path | None, preset: Preset, size: tuple[int, int], fps: int,
          seconds: float, picture_index: int, with_sound: bool) -> Path:
    width, height = (_scaled(preset, size[0]), _scaled(preset, size[1]))
    picture = _stills(work, cache, picture_index + 1, preset)[picture_index]
    stem = (f"clip2-{width}x{height}-{fps}-{seconds:g}s-{picture_index}"
            f"{'-sound' if with_sound else ''}")

    def make(out: Path) -> None:
        sound = make_music(work / stem, seconds, seed=23) if with_sound else None
        make_clip(out, picture, (width, height), fps, seconds, sound=sound)

    return _cached(cache, work, f"{stem}.mp4", make)


_SUBJECTS = ("Fresh beans", "A burr grinder", "Filtered water", "A kitchen scale",
             "A slow pour", "A warm cup", "A clean filter", "A short rest", "Whole spices",
             "A glass jar")
_VERBS = ("brings out", "keeps", "gives you", "unlocks", "protects", "balances")
_OBJECTS = ("the sweetness of every cup", "a cleaner finish", "more aroma", "a rounder body",
            "the flavour you paid for", "a calmer morning", "the bright notes")
_ENDINGS = ("every single day", "without extra effort", "in under five minutes",
            "for almost nothing", "even on busy mornings", "at home")


def _points(seconds: float, count: int | None, seed: int) -> tuple[str, ...]:
    """An idea's points for a voice of `seconds`: about 2.5 words a second in all, between
    the hook and the call to action (`count` points, or one per 6 s)."""
    rng = random.Random(seed)
    words = max(8, round(WORDS_PER_SECOND * seconds) - 13)  # hook and CTA say about 13
    count = count or max(1, round(words / (WORDS_PER_SECOND * SCENE_SECONDS)))
    points = []
    for i in range(count):
        share = words * (i + 1) // count - words * i // count
        sentences: list[str] = []
        while sum(len(s.split()) for s in sentences) < share:
            sentences.append(f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} "
                             f"{rng.choice(_OBJECTS)} {rng.choice(_ENDINGS)}.")
        points.append(" ".join(sentences))
    return tuple(points)


def _idea(idea: str, seconds: float, *, points: int | None = None, seed: int) -> Script:
    """The template generator's script of an idea with points sized to `seconds`."""
    source = IdeaSource(idea=idea, language="en", points=_points(seconds, points, seed))
    return TemplateScriptGenerator().generate(source)


def _spoken(work: Path, script: Script, seconds: int,
            preset: Preset) -> tuple[Path, Voiceover, Path]:
    """The voice stage (espeak-ng, to the video's length less the end card) and captions."""
    wav, voiceover = speak_to_length(work / "voice", script, seconds - END_CARD_SECONDS)
    captions = build_captions(voiceover.words, preset, work / "captions")["ass"]
    return wav, voiceover, captions


# --- the workloads -----------------------------------------------------------------------


def w1(work: Path, seconds: int, preset: Preset, cache: Path | None = None) -> StagedJob:
    """W1 as bench/render_w1.py builds it."""
    return w1_staged(w1_parts(work, seconds, preset))


def w1_staged(parts: W1Parts) -> StagedJob:
    """W1's parts as a staged job: the stills uploaded, the price in the options."""
    return StagedJob("W1", round(parts.voiceover.duration + END_CARD_SECONDS), parts.preset,
                     {"type": "idea", "idea": "W1"}, parts.script, parts.voiceover,
                     parts.voice_wav, parts.captions_ass,
                     uploads=tuple(Upload(path, "still") for path in parts.stills),
                     music=parts.music, price=parts.price)


def w2(work: Path, seconds: int, preset: Preset, cache: Path | None = None) -> StagedJob:
    """An idea over generated backgrounds: title, a headline per point, music."""
    idea = "How to brew better coffee at home"
    script = _idea(idea, seconds - END_CARD_SECONDS, seed=2)
    wav, voiceover, captions = _spoken(work, script, seconds, preset)
    return StagedJob("W2", seconds, preset, {"type": "idea", "idea": idea}, script, voiceover,
                     wav, captions, music=make_music(work / "music", seconds))


def _w3(name: str, size: tuple[int, int], fps: int, work: Path, seconds: int, preset: Preset,
        cache: Path | None) -> StagedJob:
    idea = "A morning walk along the harbour"
    script = _idea(idea, seconds - END_CARD_SECONDS, seed=3)
    wav, voiceover, captions = _spoken(work, script, seconds, preset)
    # An uploaded clip of up to a minute; a longer video plays it again from the start.
    length = float(min(seconds, 60))
    clip = _clip(work, cache, preset, size, fps, length, 0, with_sound=True)
    return StagedJob(name, seconds, preset, {"type": "idea", "idea": idea}, script, voiceover,
                     wav, captions, uploads=(Upload(clip, "clip", True, length),))


def w3(work: Path, seconds: int, preset: Preset, cache: Path | None = None) -> StagedJob:
    """An idea over an uploaded 1920×1080 60 fps clip, its own sound under the voice."""
    return _w3("W3", (1920, 1080), 60, work, seconds, preset, cache)


def w3v(work: Path, seconds: int, preset: Preset, cache: Path | None = None) -> StagedJob:
    """An idea over an uploaded 1080×1920 30 fps clip (the frame's own size and rate)."""
    return _w3("W3v", (1080, 1920), 30, work, seconds, preset, cache)


_LINEUP = (  # title, first sentence of the description, price, sale price
    ("Aurora Desk Lamp", "Warm light that dims smoothly for late work.", "$49.99", "$34.99"),
    ("Summit Steel Bottle", "It keeps drinks cold for a whole day.", "$29.00", ""),
    ("Nimbus Headphones", "Quiet comfort for long calls and flights.", "$129.00", "$99.00"),
    ("Ember Travel Mug", "Your coffee stays hot on the way to work.", "$24.50", ""),
    ("Atlas Laptop Stand", "It lifts the screen to the height of your eyes.", "$59.00",
     "$44.00"),
)


def w4(work: Path, seconds: int, preset: Preset, cache: Path | None = None) -> StagedJob:
    """A compilation of 5 products, 2 pictures each: numbered scenes, price badges, sales."""
    stills = _stills(work, cache, 2 * len(_LINEUP), preset)
    products = tuple(
        Product(id=f"p{k}", title=title, description=sentence, price=parse_price(price),
                sale_price=parse_price(sale) if sale else None,
                images=(f"img{2 * k}", f"img{2 * k + 1}"), link="https://shop.example/p")
        for k, (title, sentence, price, sale) in enumerate(_LINEUP))
    voice_seconds = seconds - END_CARD_SECONDS
    script = generate_product_script(ProductSource(
        products, mode="compilation", title="Top 5 desk upgrades", language="en",
        target_seconds=voice_seconds))
    script = _filled(script, voice_seconds, seed=4)
    wav, voiceover, captions = _spoken(work, script, seconds, preset)
    return StagedJob("W4", seconds, preset, {"type": "collection", "items": len(products)},
                     script, voiceover, wav, captions,
                     brought=tuple(Upload(path, "still") for path in stills),
                     music=make_music(work / "music", seconds))


def _filled(script: Script, seconds: float, seed: int) -> Script:
    """The script with more said about each product until it fills `seconds` at 2.5 words
    a second: a compilation's writer says one sentence a product, enough for 30-45 s."""
    rng = random.Random(seed)
    missing = round(WORDS_PER_SECOND * seconds) - len(script.narration.split())
    numbered = [i for i, scene in enumerate(script.scenes) if scene.visuals]
    scenes = list(script.scenes)
    turn = 0
    while missing > 0 and numbered:
        i = numbered[turn % len(numbered)]
        extra = (f"It {rng.choice(('fits', 'suits', 'works for'))} "
                 f"{rng.choice(('any desk', 'small rooms', 'busy people', 'every day'))} "
                 f"and {rng.choice(('looks great', 'lasts for years', 'packs away flat'))}.")
        scenes[i] = replace(scenes[i], narration=f"{scenes[i].narration} {extra}")
        missing -= len(extra.split())
        turn += 1
    return replace(script, scenes=tuple(scenes))


# Renditions a stock provider hands over for a 1080×1920 frame: (width, height, fps, seconds).
STOCK_CLIPS = ((1080, 1920, 30, 12.0), (1440, 2560, 25, 10.0), (720, 1280, 24, 15.0),
               (1920, 1080, 30, 9.0), (1080, 1920, 60, 14.0))


def w5(work: Path, seconds: int, preset: Preset, cache: Path | None = None) -> StagedJob:
    """An idea over 5 stock clips of different sizes and frame rates, one per scene."""
    idea = "Five places to see before summer ends"
    script = _idea(idea, seconds - END_CARD_SECONDS, points=len(STOCK_CLIPS) - 2, seed=5)
    # As the stock chooser leaves it: each scene names its own clip.
    script = replace(script, scenes=tuple(replace(scene, visuals=(i,))
                                          for i, scene in enumerate(script.scenes)))
    wav, voiceover, captions = _spoken(work, script, seconds, preset)
    clips = tuple(Upload(_clip(work, cache, preset, (w, h), fps, length, i + 1, False), "clip",
                         duration=length)
                  for i, (w, h, fps, length) in enumerate(STOCK_CLIPS))
    return StagedJob("W5", seconds, preset, {"type": "idea", "idea": idea}, script, voiceover,
                     wav, captions, brought=clips, music=make_music(work / "music", seconds))


WORKLOADS: dict[str, Callable[[Path, int, Preset, Path | None], StagedJob]] = {
    "W1": w1, "W2": w2, "W3": w3, "W3v": w3v, "W4": w4, "W5": w5,
}
