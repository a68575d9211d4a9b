"""The timeline: every layer of a video with its times, built by one pure function.

The final render, the draft preview and the tests all read the same `Timeline`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.render.audio_mix import DEFAULT_MUSIC_GAIN_DB
from pipeline.render.presets import Preset
from pipeline.types import GENERATED_VISUAL, Script, StageError, Voiceover

# Visuals change at least this often; a longer scene is shown as several visuals.
MAX_VISUAL_SECONDS = 5.5
END_CARD_SECONDS = 2.5
TITLE_MIN_SECONDS = 2.0
TRANSITION_SECONDS = 0.5
END_FADE_SECONDS = 0.4
KEN_BURNS_ZOOM = 0.15

# Motions alternate so consecutive stills never move the same way.
MOTIONS = ("zoom_in", "pan_right", "zoom_out", "pan_down", "pan_left", "pan_up")
# Transitions between visuals: crossfades, with a few cut styles in between.
TRANSITIONS = ("fade", "fade", "slideleft", "fade", "wipeup", "fade", "smoothleft")


@dataclass(frozen=True)
class MediaItem:
    """A user's picture or clip to show (stills get Ken Burns, clips are trimmed)."""

    path: Path
    kind: str  # "still" or "clip"
    keep_audio: bool = False
    duration: float | None = None  # a clip's length: a clip shown again plays on from there


@dataclass(frozen=True)
class Price:
    """What a product costs; a sale price shows the regular one struck through."""

    price: str
    sale_price: str | None = None


@dataclass(frozen=True)
class Brand:
    """A profile's look."""

    primary: str = "FF5E62"  # RRGGBB
    accent: str = "FFE500"
    text: str = "FFFFFF"
    font: str = "Noto Sans"
    logo: Path | None = None


@dataclass(frozen=True)
class Visual:
    """What fills the frame from `start` to `end` (overlapping its neighbours' transitions)."""

    kind: str  # "still", "clip" or "generated"
    start: float
    end: float
    motion: str = "none"
    source: Path | None = None
    palette_index: int = 0
    clip_in: float = 0.0
    keep_audio: bool = False

    @property
    def duration(self) -> float:
        """Seconds this visual plays, transitions included."""
        return self.end - self.start


@dataclass(frozen=True)
class Transition:
    """How visual i hands over to visual i + 1, centred on their boundary."""

    kind: str  # an ffmpeg xfade transition name
    at: float  # the boundary on the timeline
    duration: float

    @property
    def start(self) -> float:
        """When the next visual starts to appear."""
        return self.at - self.duration / 2


@dataclass(frozen=True)
class TextLayer:
    """Text drawn over the visuals."""

    kind: str  # "title", "headline", "badge" or "end"
    text: str
    start: float
    end: float
    secondary: str = ""  # end-card line, or the regular price of a sale


@dataclass(frozen=True)
class Timeline:
    """A whole video: visuals, transitions, text, captions and sound, on one clock."""

    preset: Preset
    duration: float
    voice_duration: float
    visuals: tuple[Visual, ...]
    transitions: tuple[Transition, ...]
    texts: tuple[TextLayer, ...]
    voice: Path
    captions: Path | None = None
    music: Path | None = None
    brand: Brand = field(default_factory=Brand)
    music_gain_db: float = DEFAULT_MUSIC_GAIN_DB  # the music's loudness against the voice
    fade_out: float = END_FADE_SECONDS

    def visual_at(self, t: float) -> Visual:
        """The visual fully on screen at time t (outside transitions)."""
        return next(v for v in reversed(self.visuals) if v.start <= t)

    def texts_at(self, t: float) -> list[TextLayer]:
        """Text layers shown at time t."""
        return [layer for layer in self.texts if layer.start <= t < layer.end]


def _boundaries(voice: Voiceover, duration: float,
                end_card_start: float) -> tuple[list[float], list[int]]:
    """Where one visual gives way to the next (scene starts, long scenes split evenly), and
    the scene each visual belongs to (the end card's is -1)."""
    scene_starts = [0.0] + [s.start for s in voice.scenes[1:]] + [end_card_start]
    scene_of = [scene.index for scene in voice.scenes]
    title_end = max(scene_starts[1], TITLE_MIN_SECONDS) if len(scene_starts) > 1 else duration
    edges, owners = [0.0], []
    for k, (start, end) in enumerate(zip(scene_starts, scene_starts[1:], strict=False)):
        start = max(start, edges[-1])
        if start == 0.0:
            end = max(end, title_end)
        if end - start < 0.5:
            continue  # spoken while the previous visual is still up
        pieces = max(1, math.ceil((end - start) / MAX_VISUAL_SECONDS))
        step = (end - start) / pieces
        edges += [start + step * (j + 1) for j in range(pieces)]
        owners += [scene_of[k]] * pieces
    edges[-1] = end_card_start
    return edges + [duration], owners + [-1]


def build_timeline(
    script: Script,
    voice: Voiceover,
    voice_wav: Path,
    preset: Preset,
    *,
    media: Sequence[MediaItem] = (),
    captions: Path | None = None,
    music: Path | None = None,
    brand: Brand | None = None,
    price: Price | None = None,
    music_gain_db: float = DEFAULT_MUSIC_GAIN_DB,
) -> Timeline:
    """Lay every layer of the video on the voice's clock."""
    duration = max(voice.duration + END_CARD_SECONDS, preset.min_duration)
    if duration > preset.max_duration:
        raise StageError(
            "render", "too_long",
            f"the narration lasts {voice.duration:.0f} s but {preset.name} accepts at most "
            f"{preset.max_duration:.0f} s; shorten the script",
        )
    end_card_start = duration - max(END_CARD_SECONDS, duration - voice.duration)
    edges, owners = _boundaries(voice, duration, end_card_start)
    transitions = tuple(
        Transition(TRANSITIONS[i % len(TRANSITIONS)], at, TRANSITION_SECONDS)
        for i, at in enumerate(edges[1:-1])
    )
    chosen = _media_per_visual(script, owners, len(media))
    played = [0.0] * len(media)  # how far into each clip the video has shown it
    visuals = []
    for i, (start, end) in enumerate(zip(edges, edges[1:], strict=False)):
        lead = TRANSITION_SECONDS / 2 if i > 0 else 0.0
        tail = TRANSITION_SECONDS / 2 if i < len(edges) - 2 else 0.0
        motion = MOTIONS[i % len(MOTIONS)]
        if chosen[i] is None:
            visuals.append(Visual("generated", start - lead, end + tail, motion,
                                  palette_index=i))
            continue
        item = media[chosen[i]]
        clip_in = 0.0
        if item.kind == "clip":
            shown = played[chosen[i]]
            if item.duration and shown + (end - start) > item.duration:
                shown = 0.0  # it would run out: start it again rather than freeze
            clip_in = max(0.0, shown - lead)
            played[chosen[i]] = shown + (end - start)
        visuals.append(Visual(item.kind, start - lead, end + tail,
                              motion if item.kind == "still" else "none", item.path,
                              clip_in=clip_in, keep_audio=item.keep_audio))
    if price is None and script.price:
        price = Price(script.was_price or script.price,
                      script.price if script.was_price else None)
    texts = _text_layers(script, voice, edges, end_card_start, duration, bool(media), price)
    return Timeline(preset, duration, voice.duration, tuple(visuals), transitions, tuple(texts),
                    voice_wav, captions, music, brand or Brand(), music_gain_db=music_gain_db)


def _media_per_visual(script: Script, owners: list[int], count: int) -> list[int | None]:
    """Which media item each visual shows: a scene that names its visuals shows those, the
    others take the media in turn; the end card, a video without media and a scene that names
    GENERATED_VISUAL are generated."""
    chosen: list[int | None] = []
    turn, within = 0, 0
    for i, owner in enumerate(owners):
        within = within + 1 if i > 0 and owners[i - 1] == owner else 0
        named = script.scenes[owner].visuals if 0 <= owner < len(script.scenes) else ()
        own = tuple(v for v in named if 0 <= v < count)
        if owner < 0 or count == 0 or named == (GENERATED_VISUAL,):
            chosen.append(None)
        elif own:
            chosen.append(own[within % len(own)])
        else:
            chosen.append(turn % count)
            turn += 1
    return chosen


def _text_layers(script: Script, voice: Voiceover, edges: list[float], end_card_start: float,
                 duration: float, real_media: bool, price: Price | None) -> list[TextLayer]:
    title_end = edges[1] if len(edges) > 2 else min(duration, TITLE_MIN_SECONDS)
    layers = [TextLayer("title", script.title, 0.0, max(title_end, TITLE_MIN_SECONDS))]
    scene_badges = any(scene.price for scene in script.scenes)
    for timing in voice.scenes[1:]:
        if timing.start >= end_card_start:
            break
        end = min(timing.end + 0.3, end_card_start)
        if end - timing.start <= 0.5:
            continue
        scene = script.scenes[timing.index]
        # Generated backgrounds carry each scene's headline; an idea's own pictures speak for
        # themselves, while a product's benefits and a compilation's numbers are the point.
        if not real_media or script.kind != "idea":
            layers.append(TextLayer("headline", scene.headline, timing.start, end))
        if scene.price:
            layers.append(TextLayer("badge", scene.price, timing.start, end, scene.was_price))
    if price is not None and not scene_badges:
        start = layers[0].end
        if end_card_start - start > 0.5:
            text = price.sale_price or price.price
            was = price.price if price.sale_price else ""
            layers.append(TextLayer("badge", text, start, end_card_start, was))
    layers.append(TextLayer("end", script.end_title or script.call_to_action or script.title,
                            end_card_start, duration,
                            script.end_subtitle or " ".join(script.hashtags)))
    return layers
