"""The timeline: every layer of a video with its times, built by one pure function.

The final render, the draft preview and the tests all read the same `Timeline`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.render.presets import Preset
from pipeline.types import Script, StageError, Voiceover

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
    fade_out: float = END_FADE_SECONDS

    def visual_at(self, t: float) -> Visual:
        """The visual fully on screen at time t (outside transitions)."""
        return next(v for v in reversed(self.visuals) if v.start <= t)

    def texts_at(self, t: float) -> list[TextLayer]:
        """Text layers shown at time t."""
        return [layer for layer in self.texts if layer.start <= t < layer.end]


def _boundaries(voice: Voiceover, duration: float, end_card_start: float) -> list[float]:
    """Where one visual gives way to the next: scene starts, long scenes split evenly."""
    scene_starts = [0.0] + [s.start for s in voice.scenes[1:]] + [end_card_start]
    title_end = max(scene_starts[1], TITLE_MIN_SECONDS) if len(scene_starts) > 1 else duration
    edges = [0.0]
    for start, end in zip(scene_starts, scene_starts[1:], strict=False):
        start = max(start, edges[-1])
        if start == 0.0:
            end = max(end, title_end)
        if end - start < 0.5:
            continue  # spoken while the previous visual is still up
        pieces = max(1, math.ceil((end - start) / MAX_VISUAL_SECONDS))
        step = (end - start) / pieces
        edges += [start + step * (k + 1) for k in range(pieces)]
    edges[-1] = end_card_start
    return edges + [duration]


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
    edges = _boundaries(voice, duration, end_card_start)
    transitions = tuple(
        Transition(TRANSITIONS[i % len(TRANSITIONS)], at, TRANSITION_SECONDS)
        for i, at in enumerate(edges[1:-1])
    )
    visuals = []
    for i, (start, end) in enumerate(zip(edges, edges[1:], strict=False)):
        lead = TRANSITION_SECONDS / 2 if i > 0 else 0.0
        tail = TRANSITION_SECONDS / 2 if i < len(edges) - 2 else 0.0
        is_end_card = i == len(edges) - 2
        item = media[i % len(media)] if media and not is_end_card else None
        motion = MOTIONS[i % len(MOTIONS)]
        if item is None:
            visuals.append(Visual("generated", start - lead, end + tail, motion,
                                  palette_index=i))
        else:
            visuals.append(Visual(item.kind, start - lead, end + tail,
                                  motion if item.kind == "still" else "none", item.path,
                                  keep_audio=item.keep_audio))
    texts = _text_layers(script, voice, edges, end_card_start, duration, bool(media), price)
    return Timeline(preset, duration, voice.duration, tuple(visuals), transitions, tuple(texts),
                    voice_wav, captions, music, brand or Brand())


def _text_layers(script: Script, voice: Voiceover, edges: list[float], end_card_start: float,
                 duration: float, real_media: bool, price: Price | None) -> list[TextLayer]:
    title_end = edges[1] if len(edges) > 2 else min(duration, TITLE_MIN_SECONDS)
    layers = [TextLayer("title", script.title, 0.0, max(title_end, TITLE_MIN_SECONDS))]
    if not real_media:
        # Generated backgrounds carry each scene's headline; real pictures speak for themselves.
        for timing in voice.scenes[1:]:
            if timing.start >= end_card_start:
                break
            end = min(timing.end + 0.3, end_card_start)
            if end - timing.start > 0.5:
                headline = script.scenes[timing.index].headline
                layers.append(TextLayer("headline", headline, timing.start, end))
    if price is not None:
        start = layers[0].end
        if end_card_start - start > 0.5:
            text = price.sale_price or price.price
            was = price.price if price.sale_price else ""
            layers.append(TextLayer("badge", text, start, end_card_start, was))
    layers.append(TextLayer("end", script.call_to_action or script.title, end_card_start,
                            duration, " ".join(script.hashtags)))
    return layers
