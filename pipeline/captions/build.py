"""The captions stage: word timings become groups of words and styled subtitles."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from pipeline.captions.ass import AssStyle, ass_colour, ass_document, ass_escape, dialogue
from pipeline.render.fonts import DEFAULT_FAMILY, family_for
from pipeline.render.presets import Preset
from pipeline.types import CaptionGroup, WordTiming

MAX_WORDS = 3
MAX_CHARS = 18
MIN_SECONDS = 0.3
# Inside one sentence a caption stays up until the next one replaces it, unless the
# speaker pauses for longer than this.
HOLD_GAP_SECONDS = 0.8
_SENTENCE_ENDS = (".", "!", "?", "。", "！", "？", "؟", "…", ":", ";")


@dataclass(frozen=True)
class CaptionStyle:
    """How burned-in captions look."""

    font: str = "Noto Sans"
    size_ratio: float = 0.08  # of the frame width
    fill: str = "FFFFFF"
    highlight: str = "FFE500"
    outline: str = "000000"
    outline_ratio: float = 0.12  # of the font size
    uppercase: bool = False
    vertical_position: float = 0.68  # centre of the caption, as a fraction of the height


def caption_style(options: dict[str, Any], frame_width: int = 1080) -> CaptionStyle:
    """A style from a profile's or request's options (sizes in pixels of a 1080-wide frame)."""
    base = CaptionStyle()
    colour = {k: str(options[k]).lstrip("#").upper() for k in ("fill", "highlight", "outline")
              if options.get(k)}
    return replace(
        base,
        font=options.get("font") or base.font,
        size_ratio=options["size"] / frame_width if options.get("size") else base.size_ratio,
        uppercase=bool(options.get("uppercase", base.uppercase)),
        vertical_position=float(options.get("position", base.vertical_position)),
        **colour,
    )


def group_words(words: Sequence[WordTiming], *, max_words: int = MAX_WORDS,
                max_chars: int = MAX_CHARS) -> list[CaptionGroup]:
    """Greedy groups of 1–3 words that never cross a sentence end or exceed max_chars."""
    groups: list[list[WordTiming]] = []
    current: list[WordTiming] = []
    for word in words:
        if current:
            width = len(" ".join(w.text for w in current)) + 1 + len(word.text)
            if len(current) >= max_words or width > max_chars:
                groups.append(current)
                current = []
        current.append(word)
        if word.text.endswith(_SENTENCE_ENDS):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return _timed(groups)


def _ends_sentence(group: list[WordTiming]) -> bool:
    return group[-1].text.endswith(_SENTENCE_ENDS)


def _timed(groups: list[list[WordTiming]]) -> list[CaptionGroup]:
    result: list[CaptionGroup] = []
    for i, group in enumerate(groups):
        start = group[0].start
        end = group[-1].end
        next_start = groups[i + 1][0].start if i + 1 < len(groups) else None
        if next_start is not None:
            if not _ends_sentence(group) and next_start - end < HOLD_GAP_SECONDS:
                end = next_start
            end = min(max(end, start + MIN_SECONDS), max(next_start, start + MIN_SECONDS))
        else:
            end = max(end, start + MIN_SECONDS)
        result.append(CaptionGroup(words=tuple(group), start=start, end=end))
    # A later group may start before an earlier one was forced to its minimum: shift it.
    fixed: list[CaptionGroup] = []
    for group in result:
        if fixed and group.start < fixed[-1].end:
            start = fixed[-1].end
            group = CaptionGroup(group.words, start, max(group.end, start + MIN_SECONDS))
        fixed.append(group)
    return fixed


def _srt_time(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3600000)
    minutes, rest = divmod(rest, 60000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def caption_anchor(preset: Preset, style: CaptionStyle = CaptionStyle()) -> tuple[int, int, int]:
    """Centre (x, y) of the caption line and its font size, inside the preset's safe zone."""
    size = round(preset.width * style.size_ratio)
    zone = preset.safe_zone
    left = round(preset.width * zone.left)
    right = round(preset.width * zone.right)
    x = (left + preset.width - right) // 2
    # Two lines of text must fit between the platform's top and bottom overlays.
    highest = preset.height * zone.top + size * 1.5
    lowest = preset.height * (1 - zone.bottom) - size * 1.5
    y = round(max(highest, min(preset.height * style.vertical_position, lowest)))
    return x, y, size


def write_ass(groups: Sequence[CaptionGroup], preset: Preset, out: Path,
              style: CaptionStyle = CaptionStyle()) -> Path:
    """Karaoke-style ASS: one event per word state, the spoken word in the highlight colour."""
    x, y, size = caption_anchor(preset, style)
    zone = preset.safe_zone
    all_text = " ".join(g.text for g in groups)
    family, factor = family_for(all_text)
    font = style.font if family == DEFAULT_FAMILY else family
    outline = max(2, round(size * style.outline_ratio))
    ass_style = AssStyle(
        name="Caption", font=font, size=round(size * factor), fill=style.fill,
        secondary=style.highlight, outline_colour=style.outline, outline=outline,
        shadow=max(1, outline // 3), alignment=5,
        margin_left=round(preset.width * zone.left) + size // 2,
        margin_right=round(preset.width * zone.right) + size // 2,
    )
    highlight = ass_colour(style.highlight)
    events = []
    for group in groups:
        texts = [ass_escape(w.text.upper() if style.uppercase else w.text) for w in group.words]
        for i, word in enumerate(group.words):
            # A group pushed later (its predecessor held for MIN_SECONDS) keeps its words
            # inside its own span, so two captions never show at once.
            start = group.start if i == 0 else max(word.start, group.start)
            end = group.words[i + 1].start if i + 1 < len(group.words) else group.end
            end = min(end, group.end)
            if end <= start:
                continue
            shown = " ".join(
                f"{{\\c{highlight}}}{t}{{\\r}}" if j == i else t for j, t in enumerate(texts)
            )
            events.append(dialogue(start, end, "Caption", f"{{\\pos({x},{y})}}{shown}"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(ass_document(preset, [ass_style], events), encoding="utf-8")
    return out


def write_srt(groups: Sequence[CaptionGroup], out: Path) -> Path:
    """Plain SubRip sidecar for platforms that take captions as a file."""
    blocks = [
        f"{i}\n{_srt_time(g.start)} --> {_srt_time(g.end)}\n{g.text}\n"
        for i, g in enumerate(groups, start=1)
    ]
    out.write_text("\n".join(blocks), encoding="utf-8")
    return out


def _vtt_time(seconds: float) -> str:
    return _srt_time(seconds).replace(",", ".")


def write_vtt(groups: Sequence[CaptionGroup], out: Path) -> Path:
    """WebVTT sidecar, with the spoken word of each moment marked by a timestamp tag."""
    blocks = ["WEBVTT\n"]
    for i, group in enumerate(groups, start=1):
        # <hh:mm:ss.ttt> inside a cue is WebVTT's karaoke: players highlight word by word.
        text = " ".join(
            (f"<{_vtt_time(w.start)}>" if j and group.start < w.start < group.end else "")
            + _vtt_escape(w.text) for j, w in enumerate(group.words)
        )
        blocks.append(f"{i}\n{_vtt_time(group.start)} --> {_vtt_time(group.end)}\n{text}\n")
    out.write_text("\n".join(blocks), encoding="utf-8")
    return out


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_groups_json(groups: Sequence[CaptionGroup], out: Path) -> Path:
    """The caption track as data, for the export sidecar and later stages."""
    out.write_text(json.dumps([asdict(g) for g in groups], ensure_ascii=False, indent=1),
                   encoding="utf-8")
    return out


class CaptionWriter(Protocol):
    """One caption file format, written from the timed groups (formats plug in here)."""

    name: str  # the key build_captions returns its file under
    filename: str

    def write(self, groups: Sequence[CaptionGroup], preset: Preset, style: CaptionStyle,
              out: Path) -> Path:
        """Write the file to `out` and return it."""


@dataclass(frozen=True)
class _Writer:
    name: str
    filename: str
    writes: Callable[[Sequence[CaptionGroup], Preset, CaptionStyle, Path], Path]

    def write(self, groups: Sequence[CaptionGroup], preset: Preset, style: CaptionStyle,
              out: Path) -> Path:
        """Write the file to `out` and return it."""
        return self.writes(groups, preset, style, out)


CAPTION_WRITERS: tuple[CaptionWriter, ...] = (
    _Writer("ass", "captions.ass", lambda g, p, s, out: write_ass(g, p, out, s)),
    _Writer("srt", "captions.srt", lambda g, p, s, out: write_srt(g, out)),
    _Writer("vtt", "captions.vtt", lambda g, p, s, out: write_vtt(g, out)),
    _Writer("json", "captions.json", lambda g, p, s, out: write_groups_json(g, out)),
)


def build_captions(words: Sequence[WordTiming], preset: Preset, out_dir: Path,
                   style: CaptionStyle = CaptionStyle(),
                   writers: Sequence[CaptionWriter] = CAPTION_WRITERS) -> dict[str, Path]:
    """Group the words and write every format (ASS, SRT, WebVTT and JSON by default); return
    their paths by format name."""
    groups = group_words(words)
    out_dir.mkdir(parents=True, exist_ok=True)
    return {writer.name: writer.write(groups, preset, style, out_dir / writer.filename)
            for writer in writers}
