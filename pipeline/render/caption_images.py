"""The captions drawn once per state (a group of words with one of them highlighted), as one
stream of images that the encoder overlays, instead of libass drawing them into every frame.

A karaoke caption changes only at word times, a few times a second, while libass blends its
glyphs into every frame (2.7 ms a 1080x1920 frame: 14.5 CPU s of a 180 s video) and keeps
what it drew in caches ffmpeg gives no bound for (the encoder 25 MB larger at 180 s than at
15 s). Here libass draws each state once, on a canvas (`text_canvas`), cut to the band every
caption shows in; the images play from an ffconcat listing, each from the first frame it
covers, so the overlay shows the newest one on every frame.

A document whose text moves or fades within an event (`\\t`, `\\fad`, `\\move`, karaoke
sweeps, scrolling effects) is left to libass, frame by frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.captions.ass import ass_time
from pipeline.render.presets import Preset
from pipeline.render.text_canvas import (
    Box,
    canvas_times,
    draw_canvas,
    drawn_box,
    straight_alpha,
    write_listing,
    write_png,
)

_ANIMATED = re.compile(r"\\(?:t\s*\(|fade?\s*\(|move\s*\(|[kK][fo]?\s*\d)")
# Colour and transparency tags: events that differ only in these cover the same pixels.
_PAINT = re.compile(r"\\(?:[1-4]?c|[1-4]?a|alpha)&H[0-9A-Fa-f]+&?")
# Room left around the band: a state that reaches it may draw beyond, and goes to libass.
_BAND_MARGIN = 8


@dataclass(frozen=True)
class CaptionBand:
    """The caption states as images: `listing` (an ffconcat file in the workdir) plays each
    from its first frame; every image is the band's size and goes at (x, y)."""

    listing: str
    x: int
    y: int


@dataclass(frozen=True)
class _Event:
    start_ms: int
    end_ms: int
    head: str  # "Dialogue: Layer" and the fields before Start
    tail: str  # the fields after End, Text included


@dataclass(frozen=True)
class _State:
    first_frame: int
    end_frame: int
    events: tuple[int, ...]


class NotStill(Exception):
    """The captions change within an event, or a state draws beyond the band: libass must
    draw them frame by frame."""


def _ms(clock: str) -> int:
    hours, minutes, seconds = clock.strip().split(":")
    return round((int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 1000)


def _parse(document: str) -> tuple[list[str], list[_Event]]:
    """The lines before the first event, and the events (Dialogue lines) in file order."""
    header: list[str] = []
    events: list[_Event] = []
    fields: list[str] = []
    section = ""
    in_events = False  # past the first event: what follows is not header
    for line in document.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.lower()
        in_section = section == "[events]"
        if in_section and stripped.startswith("Format:"):
            fields = [f.strip().lower() for f in stripped[len("Format:"):].split(",")]
        if in_section and stripped.startswith("Dialogue:"):
            in_events = True
            if not {"start", "end"} <= set(fields) or fields[-1] != "text":
                raise NotStill("the events have no Format line with Start, End and Text")
            values = stripped[len("Dialogue:"):].split(",", len(fields) - 1)
            named = dict(zip(fields, values, strict=False))
            if named.get("effect", "").strip() or _ANIMATED.search(named.get("text", "")):
                raise NotStill("an event moves, fades or sweeps")
            i, j = fields.index("start"), fields.index("end")
            event = _Event(_ms(values[i]), _ms(values[j]), "Dialogue:" + ",".join(values[:i]),
                           ",".join(values[j + 1:]))
            if event.end_ms > event.start_ms:
                events.append(event)
        elif not in_events and not (in_section and stripped.startswith("Comment:")):
            header.append(line)
    return header, events


def _states(events: list[_Event], fps: int) -> list[_State]:
    """Each stretch of time in which the same events show and at least one frame falls,
    with the frames [first, end) it covers: those whose time t has start <= t < end."""
    starting: dict[int, list[int]] = {}
    ending: dict[int, list[int]] = {}
    for i, event in enumerate(events):
        starting.setdefault(event.start_ms, []).append(i)
        ending.setdefault(event.end_ms, []).append(i)
    bounds = sorted(starting.keys() | ending.keys())
    shown: set[int] = set()
    states = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        shown.difference_update(ending.get(start, ()))
        shown.update(starting.get(start, ()))
        first, stop = -(-start * fps // 1000), -(-end * fps // 1000)
        if shown and stop > first:
            states.append(_State(first, stop, tuple(sorted(shown))))
    return states


def _still_document(header: list[str], events: list[_Event],
                    spans: dict[int, tuple[int, int]]) -> str:
    """The document with each event shown on canvas frames spans[i] (first, last)."""
    lines = list(header)
    for i, event in enumerate(events):
        if i in spans:
            start, end = canvas_times(*spans[i])
            lines.append(f"{event.head},{ass_time(start)},{ass_time(end)},{event.tail}")
    return "\n".join(lines) + "\n"


def _band(header: list[str], events: list[_Event], preset: Preset, workdir: Path,
          ffmpeg: str, timeout: float) -> Box | None:
    """The box that every event covers, drawn all at once on one canvas frame, with room.
    A karaoke group's states differ only in colour: one of them stands for all."""
    shapes: dict[tuple[str, str], int] = {}
    for i, event in enumerate(events):
        shapes.setdefault((event.head, _PAINT.sub("", event.tail)), i)
    (workdir / "captions_band.ass").write_text(
        _still_document(header, events, {i: (0, 0) for i in shapes.values()}),
        encoding="utf-8")
    [pair] = list(draw_canvas("captions_band.ass", preset.width, preset.height, 1, workdir,
                              ffmpeg=ffmpeg, timeout=timeout))
    box = drawn_box(pair)
    if box is None:
        return None
    left, top, right, bottom = box
    return (max(0, left - _BAND_MARGIN), max(0, top - _BAND_MARGIN),
            min(preset.width, right + _BAND_MARGIN), min(preset.height, bottom + _BAND_MARGIN))


def _inside(box: Box, band: Box, preset: Preset) -> bool:
    """Whether a state's drawing keeps off the band's edges (where they are not the frame's)."""
    left, top, right, bottom = box
    width, height = band[2] - band[0], band[3] - band[1]
    return ((left > 0 or band[0] == 0) and (top > 0 or band[1] == 0)
            and (right < width or band[2] == preset.width)
            and (bottom < height or band[3] == preset.height))


def draw_caption_band(captions: Path, preset: Preset, workdir: Path, *,
                      ffmpeg: str = "ffmpeg", timeout: float = 120.0) -> CaptionBand | None:
    """Draw every caption state into `caption_NNNN.png` (all the band's size, straight alpha)
    and list them in `captions.ffconcat`; None when libass must draw the captions frame by
    frame (see NotStill) or they show nothing."""
    try:
        header, events = _parse(captions.read_text(encoding="utf-8-sig"))
        states = _states(events, preset.fps)
        if not states:
            return None
        band = _band(header, events, preset, workdir, ffmpeg, timeout)
        if band is None:
            return None
        spans: dict[int, tuple[int, int]] = {}
        for k, state in enumerate(states):
            for i in state.events:
                spans[i] = (spans.get(i, (k, k))[0], k)
        (workdir / "captions_still.ass").write_text(_still_document(header, events, spans),
                                                    encoding="utf-8")
        frames = draw_canvas("captions_still.ass", preset.width, preset.height, len(states),
                             workdir, crop=band, ffmpeg=ffmpeg, timeout=timeout)
        names = []
        size = (band[3] - band[1], band[2] - band[0], 4)
        for k, pair in enumerate(frames):
            image = np.zeros(size, np.uint8)
            box = drawn_box(pair)
            if box is not None:
                if not _inside(box, band, preset):
                    raise NotStill("a caption draws beyond the band every caption shows in")
                left, top, right, bottom = box
                image[top:bottom, left:right] = straight_alpha(pair[:, top:bottom, left:right])
            names.append(f"caption_{k:04d}.png")
            write_png(image, workdir / names[-1])
    except NotStill:
        return None
    blank = "caption_none.png"
    write_png(np.zeros(size, np.uint8), workdir / blank)
    # Each state's image from its first frame, nothing after the last caption.
    write_listing(workdir / "captions.ffconcat",
                  [(name, state.first_frame, state.end_frame)
                   for state, name in zip(states, names, strict=True)], blank, preset.fps)
    return CaptionBand("captions.ffconcat", band[0], band[1])


def caption_overlay(band: CaptionBand, input_index: int, video: str
                    ) -> tuple[list[str], list[str], str]:
    """Input arguments, filter chains and the output label that overlay the caption images
    on `video` (a label such as "[0:v]"), the listing read as input `input_index`."""
    # The listing sets its image demuxer's clock (an option, which "safe" mode refuses).
    inputs = ["-safe", "0", "-f", "concat", "-i", band.listing]
    chains = [f"[{input_index}:v]format=yuva420p[captions]",
              # The newest image shows on each frame; the last one is blank.
              f"{video}[captions]overlay=x={band.x}:y={band.y}:format=yuv420"
              ":eof_action=pass[captioned]"]
    return inputs, chains, "[captioned]"
