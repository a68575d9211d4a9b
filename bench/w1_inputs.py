"""Inputs of benchmark workload W1 (shared/bench/W1.md), generated with fixed seeds.

Nothing is downloaded: stills, voiceover and music are made here, so every machine renders
the same W1. Durations of 15, 30 and 60 s scale the scenes (one still per 6 s) and the words
(about 2.5 a second). `floor_seconds` times the encode any renderer must pay for a video.
"""

from __future__ import annotations

import math
import random
import resource
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from pipeline.render.compositor import encoder_args
from pipeline.render.presets import Preset
from pipeline.tools import run
from pipeline.types import Scene, SceneTiming, Script, Voiceover, WordTiming
from pipeline.voice.espeak import EspeakVoice
from pipeline.voice.synthesis import synthesize_script

SCENE_SECONDS = 6.0
WORDS_PER_SECOND = 2.5
STILL_SIZE = 2000
MUSIC_RATE = 48000
# The voice stops this long before the end, as a narrator's would before the end card.
VOICE_TAIL_SECONDS = 0.4

_PRODUCTS = ("Aurora Lamp", "Summit Bottle", "Nimbus Headphones", "Ember Mug",
             "Atlas Backpack", "Pulse Watch", "Drift Speaker", "Cedar Desk",
             "Harbor Jacket", "Orbit Camera")
_OPENERS = ("Meet", "Say hello to", "Discover", "Look at", "Try")
_QUALITIES = ("bright", "quiet", "light", "strong", "smooth", "clever", "warm", "simple",
              "durable", "gentle", "bold", "careful")
_THINGS = ("design", "finish", "battery", "handle", "fabric", "sound", "shape", "colour",
           "detail", "grip", "frame", "surface")
_VERBS = ("makes", "lets", "helps")
_PEOPLE = ("you", "your family", "your team", "everyone", "your friends")
_ENDINGS = ("feel at home", "travel lighter", "work longer", "stay focused", "rest easy",
            "move faster", "enjoy every day", "share the moment")
_CLOSERS = ("Order yours today.", "Tap the link to shop.", "Follow for more ideas.",
            "Grab it while it lasts.")
# Short sentences by word count: they top a scene up to its exact number of words.
_FILLERS = {1: ("Beautiful.", "Wow."), 2: ("Simply beautiful.", "Truly yours."),
            3: ("Made to last.", "Built for you."),
            4: ("Built for everyday life.", "See it in action."),
            5: ("You will love it too.", "Made with care and patience.")}


@dataclass(frozen=True)
class W1Inputs:
    """Everything W1 renders from: stills, the voiceover with its words, the music bed."""

    seconds: float
    stills: tuple[Path, ...]
    voice_wav: Path
    words: tuple[WordTiming, ...]
    music_wav: Path


def scene_count(seconds: float) -> int:
    """Stills (one 6 s scene each) for a video of `seconds`: 15 s → 3, 30 s → 5, 60 s → 10."""
    return max(1, math.ceil(seconds / SCENE_SECONDS - 1e-9))


def build(folder: Path, seconds: float) -> W1Inputs:
    """Make all W1 inputs for a video of `seconds` in `folder`."""
    stills = make_stills(folder, scene_count(seconds))
    voice_wav, words = make_voiceover(folder, seconds)
    return W1Inputs(seconds, tuple(stills), voice_wav, tuple(words),
                    make_music(folder, seconds))


# --- stills -------------------------------------------------------------------------------


def make_stills(folder: Path, count: int, size: int = STILL_SIZE) -> list[Path]:
    """Write `count` different size×size (2000 by default) product-photo-like JPEGs; the
    same on every run. A smaller size draws the same picture at that scale."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"still_{index:02d}.jpg"
        _still(index, size).save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def _still(index: int, size: int = STILL_SIZE) -> Image.Image:
    """Gradient, shapes, a product and its name, then photo-like texture and grain."""
    rng = np.random.default_rng(1000 + index)
    k = size / STILL_SIZE  # the drawing's lengths are given for the 2000-pixel picture
    picture = Image.fromarray(_gradient(rng, size))
    overlay = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for _ in range(14):  # out-of-focus props and shapes around the product
        colour = (*(int(c) for c in rng.integers(0, 256, 3)), int(rng.integers(60, 200)))
        x, y = (int(v) for v in rng.integers(-round(200 * k), size, 2))
        w, h = (max(2, round(int(v) * k)) for v in rng.integers(120, 700, 2))
        shape = int(rng.integers(0, 3))
        if shape == 0:
            draw.ellipse((x, y, x + w, y + h), fill=colour)
        elif shape == 1:
            draw.rounded_rectangle((x, y, x + w, y + h), radius=min(w, h) // 5, fill=colour)
        else:
            points = [(x + int(rng.integers(0, w)), y + int(rng.integers(0, h)))
                      for _ in range(3)]
            draw.polygon(points, fill=colour)
    picture = Image.alpha_composite(picture.convert("RGBA"), _soften(overlay, 6 * k))
    picture = Image.alpha_composite(picture, _product(rng, size, index))
    _caption(picture, index)
    pixels = np.asarray(picture.convert("RGB"), dtype=np.float32)
    pixels += _texture(rng, size)[:, :, None] + rng.standard_normal(
        pixels.shape, dtype=np.float32) * 6.0  # sensor grain
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _gradient(rng: np.random.Generator, size: int) -> np.ndarray:
    """A diagonal two-colour gradient with a soft light spot, like a studio backdrop."""
    a, b = rng.integers(20, 236, (2, 3)).astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    axis = np.linspace(-1, 1, size, dtype=np.float32)
    t = (np.cos(angle) * axis[None, :] + np.sin(angle) * axis[:, None] + 1.5) / 3
    spot_x, spot_y = rng.uniform(-0.5, 0.5, 2)
    spot = np.exp(-((axis[None, :] - spot_x) ** 2 + (axis[:, None] - spot_y) ** 2) / 0.3)
    pixels = a * (1 - t[..., None]) + b * t[..., None] + 50 * spot[..., None]
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _product(rng: np.random.Generator, size: int, index: int) -> Image.Image:
    """A shaded bottle-like object with a label: the sharp subject of the photo."""
    layer = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    k = size / STILL_SIZE

    def px(length: float) -> int:
        return round(length * k)

    cx = size // 2 + px(int(rng.integers(-300, 300)))
    w, h = px(int(rng.integers(420, 620))), px(int(rng.integers(900, 1200)))
    top = (size - h) // 2 + px(100)
    body = tuple(int(c) for c in rng.integers(30, 220, 3))
    draw.ellipse((cx - w // 2 + px(40), top + h - px(40), cx + w // 2 + px(80), top + h + px(60)),
                 fill=(0, 0, 0, 110))  # shadow
    for step in range(w // 2, 0, -max(1, px(6))):  # shaded from the edge in, lit left of centre
        light = 1.0 + 0.6 * (1 - step / (w / 2))
        colour = tuple(min(255, int(c * light)) for c in body)
        draw.rounded_rectangle((cx - step - px(30), top, cx + step - px(30) + px(60), top + h),
                               radius=max(px(8), step // 2), fill=(*colour, 255))
    draw.rectangle((cx - w // 2 + px(40), top + h // 3, cx + w // 2 - px(10), top + h // 2),
                   fill=(245, 240, 230, 255))
    label = ImageFont.load_default(size=max(8, px(64)))
    draw.text((cx + px(15), top + h * 5 // 12), f"No. {index + 1}", font=label, anchor="mm",
              fill=(40, 40, 40, 255))
    return _soften(layer, 1.2 * k)  # a lens, not vector art


def _soften(layer: Image.Image, radius: float) -> Image.Image:
    """Blur a transparent layer without dark fringes (premultiplied alpha)."""
    return layer.convert("RGBa").filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")


def _caption(picture: Image.Image, index: int) -> None:
    """The product's name and a line of small print, as on a shop photo."""
    draw = ImageDraw.Draw(picture)
    size = picture.size[0]
    k = size / STILL_SIZE
    # Pillow's bundled font: the same glyphs on every machine, no system fonts needed.
    title = ImageFont.load_default(size=max(8, round(150 * k)))
    small = ImageFont.load_default(size=max(8, round(56 * k)))
    name = _PRODUCTS[index % len(_PRODUCTS)]
    draw.text((round(120 * k), round(110 * k)), name, font=title, fill=(255, 255, 255, 255),
              stroke_width=max(1, round(6 * k)), stroke_fill=(20, 20, 20, 255))
    draw.text((round(120 * k), size - round(180 * k)), f"Model {2024 + index} - handmade, "
              "tested, shipped in recycled packaging", font=small, fill=(250, 250, 250, 255),
              stroke_width=max(1, round(3 * k)), stroke_fill=(20, 20, 20, 255))


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Multi-scale value noise (-1…1 scaled to ±14 levels): surfaces, paper, fabric."""
    total = np.zeros((size, size), np.float32)
    for cells, amplitude in ((8, 7.0), (40, 4.0), (200, 3.0)):
        coarse = Image.fromarray(rng.uniform(-1, 1, (cells, cells)).astype(np.float32))
        total += amplitude * np.asarray(coarse.resize((size, size), Image.Resampling.BICUBIC))
    return total


# --- voiceover ----------------------------------------------------------------------------


def narration(seconds: float, seed: int = 7) -> Script:
    """A product-video script of about 2.5 words a second, one scene per 6 s."""
    rng = random.Random(seed)
    scenes = scene_count(seconds)
    target = round(WORDS_PER_SECOND * seconds)
    per_scene = [target * (i + 1) // scenes - target * i // scenes for i in range(scenes)]
    built: list[Scene] = []
    for index, words in enumerate(per_scene):
        product = _PRODUCTS[index % len(_PRODUCTS)]
        sentences: list[str] = []
        count = 0
        while count < words:
            sentence = _sentence(rng, product, first=not sentences, last=index == scenes - 1)
            if count + len(sentence.split()) > words:
                sentence = rng.choice(_FILLERS[min(5, words - count)])
            sentences.append(sentence)
            count += len(sentence.split())
        built.append(Scene(narration=" ".join(sentences), headline=product))
    return Script(title="W1 product video", scenes=tuple(built),
                  call_to_action="Order yours today.", hashtags=("#w1",), language="en")


def _sentence(rng: random.Random, product: str, *, first: bool, last: bool) -> str:
    if first:
        return f"{rng.choice(_OPENERS)} the {product}."
    if last and rng.random() < 0.3:
        return rng.choice(_CLOSERS)
    return (f"Its {rng.choice(_QUALITIES)} {rng.choice(_THINGS)} {rng.choice(_VERBS)} "
            f"{rng.choice(_PEOPLE)} {rng.choice(_ENDINGS)}.")


def make_voiceover(folder: Path, seconds: float) -> tuple[Path, list[WordTiming]]:
    """Speak a generated script with espeak-ng into a WAV of exactly `seconds`, with its words."""
    wav, voiceover = speak_to_length(folder, narration(seconds), seconds)
    return wav, list(voiceover.words)


def speak_to_length(folder: Path, script: Script, seconds: float) -> tuple[Path, Voiceover]:
    """Speak `script` with espeak-ng into folder/voice.wav of exactly `seconds`.

    The speaking rate is tuned (deterministically) so the speech ends just before the end;
    the WAV is then padded with silence, or cut, to the exact length. The words and scenes
    returned are those inside it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / "voice_raw.wav"
    target = max(0.5, seconds - VOICE_TAIL_SECONDS)
    rate = 165
    voiceover = synthesize_script(script, EspeakVoice(rate_wpm=rate), raw)
    for _ in range(4):
        if abs(voiceover.duration - target) < 0.15:
            break
        # Pauses do not scale with the rate; speech time roughly scales as 1 / rate.
        pauses = voiceover.duration - (voiceover.words[-1].end - voiceover.words[0].start)
        speech = max(0.5, voiceover.duration - pauses)
        wanted = max(0.5, target - pauses)
        rate = int(min(450, max(80, round(rate * speech / wanted))))
        voiceover = synthesize_script(script, EspeakVoice(rate_wpm=rate), raw)
    out = folder / "voice.wav"
    _fit_wav(raw, out, seconds)
    raw.unlink()
    words = tuple(WordTiming(w.text, w.start, min(w.end, seconds)) for w in voiceover.words
                  if w.start < seconds - 0.05)
    scenes = tuple(SceneTiming(s.index, s.start, min(s.end, seconds))
                   for s in voiceover.scenes if s.start < seconds - 0.05)
    return out, Voiceover(duration=seconds, sample_rate=voiceover.sample_rate, words=words,
                          scenes=scenes, engine=voiceover.engine)


def _fit_wav(source: Path, out: Path, seconds: float) -> None:
    """Copy a WAV, cut or padded with silence to exactly `seconds`."""
    with wave.open(str(source), "rb") as reader:
        params = reader.getparams()
        frames = reader.readframes(reader.getnframes())
    wanted = round(seconds * params.framerate) * params.sampwidth * params.nchannels
    frames = frames[:wanted] + bytes(max(0, wanted - len(frames)))
    with wave.open(str(out), "wb") as writer:
        writer.setparams(params)
        writer.writeframes(frames)


# --- music --------------------------------------------------------------------------------


def make_music(folder: Path, seconds: float, seed: int = 11) -> Path:
    """A 120 bpm loop — chords, bass, kick, snare, hi-hats, pink noise — as 48 kHz stereo."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = round(seconds * MUSIC_RATE)
    t = np.arange(n, dtype=np.float64) / MUSIC_RATE
    left = np.zeros(n)
    right = np.zeros(n)
    # C, A minor, F, G: two seconds each. Harmonics reach into the upper mids.
    progression = ((261.63, 329.63, 392.00), (220.00, 261.63, 329.63),
                   (174.61, 220.00, 261.63), (196.00, 246.94, 293.66))
    bar = 2.0
    chord_index = (t // bar).astype(int) % len(progression)
    swell = 0.6 + 0.4 * np.sin(np.pi * (t % bar) / bar)
    for voice in range(3):
        freq = np.array([chord[voice] for chord in progression])[chord_index]
        phase = 2 * np.pi * np.cumsum(freq) / MUSIC_RATE
        tone = sum(np.sin(k * phase) / k for k in range(1, 7)) * swell * 0.08
        pan = (voice - 1) * 0.3
        left += tone * (1 - pan)
        right += tone * (1 + pan)
    bass_freq = np.array([chord[0] / 4 for chord in progression])[chord_index]
    bass = 0.18 * np.sin(2 * np.pi * np.cumsum(bass_freq) / MUSIC_RATE)
    beat = 0.5  # seconds
    in_beat = t % beat
    kick = 0.5 * np.sin(2 * np.pi * (45 * in_beat + 60 * (1 - np.exp(-in_beat * 30)) / 30)) \
        * np.exp(-in_beat * 18)
    beat_number = (t // beat).astype(int)
    snare_env = np.where(beat_number % 2 == 1, np.exp(-in_beat * 25), 0.0)
    in_half = t % (beat / 2)
    hat_env = np.exp(-in_half * 90)
    for channel, offset in ((left, 0), (right, 1)):
        noise = rng.standard_normal(n)
        hiss = np.diff(noise, prepend=0.0)  # white noise tilted up: a hi-hat's sizzle
        channel += bass + kick + 0.2 * snare_env * noise + 0.2 * hat_env * hiss
        channel += 0.04 * _pink_noise(rng, n)
        if offset:
            channel[:] = np.roll(channel, 24)  # half a millisecond: a little width
    stereo = np.stack([left, right], axis=1)
    stereo *= 0.8 / max(1e-9, float(np.abs(stereo).max()))
    out = folder / "music.wav"
    with wave.open(str(out), "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(MUSIC_RATE)
        writer.writeframes((stereo * 32767).astype("<i2").tobytes())
    return out


def _pink_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Noise with equal energy per octave (1/f power), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1] if n > 1 else 1.0
    pink = np.fft.irfft(spectrum / np.sqrt(freqs), n)
    return pink / max(1e-12, float(np.sqrt(np.mean(pink**2))))


# --- the floor ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FloorCost:
    """What the floor's encode took: wall seconds and CPU seconds (user + system)."""

    wall_s: float
    cpu_s: float


def floor_seconds(reference_mp4: Path, preset: Preset, work: Path, *, threads: int = 0,
                  timeout: float = 1800.0) -> float:
    """Wall seconds ffmpeg takes to encode the reference's frames and audio from lossless.

    The lossless intermediate (FFV1 + PCM, decoded from the reference) is made first and not
    timed; only the encode with the preset's exact settings is — what any renderer must pay.
    """
    return floor_cost(reference_mp4, preset, work, threads=threads, timeout=timeout).wall_s


def floor_cost(reference_mp4: Path, preset: Preset, work: Path, *, threads: int = 0,
               timeout: float = 1800.0) -> FloorCost:
    """`floor_seconds`, with the CPU seconds of the encode as well."""
    argv = floor_argv(reference_mp4, preset, work, threads=threads, timeout=timeout)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    run(argv, timeout=timeout)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return FloorCost(wall, cpu)


def floor_argv(reference_mp4: Path, preset: Preset, work: Path, *, threads: int = 0,
               timeout: float = 1800.0) -> list[str]:
    """Make the lossless intermediate of the reference; return the floor's encode command."""
    work.mkdir(parents=True, exist_ok=True)
    lossless = work / "floor_source.mkv"
    # Sliced FFV1 decodes on all cores, so reading the source costs the timed run little.
    run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(reference_mp4),
         "-map", "0:v:0", "-map", "0:a:0?", "-c:v", "ffv1", "-level", "3", "-slices", "16",
         "-c:a", "pcm_s16le", str(lossless)], timeout=timeout)
    return ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(lossless),
            "-map", "0:v:0", "-map", "0:a:0?", *encoder_args(preset, threads=threads),
            str(work / "floor.mp4")]
