"""Advanced SubStation (ASS) building blocks: libass draws all our text, shaped by HarfBuzz."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.render.presets import Preset


@dataclass(frozen=True)
class AssStyle:
    """One `Style:` line (colours as RRGGBB)."""

    name: str
    font: str
    size: int
    fill: str = "FFFFFF"
    secondary: str = "FFFFFF"
    outline_colour: str = "000000"
    outline: int = 4
    shadow: int = 2
    alignment: int = 5  # numpad layout: 5 is middle centre
    margin_left: int = 0
    margin_right: int = 0
    bold: bool = True
    border_style: int = 1  # 1: outline and shadow, 3: an opaque box behind the text


def ass_time(seconds: float) -> str:
    """H:MM:SS.cc, the centisecond clock ASS uses."""
    centis = max(0, round(seconds * 100))
    hours, rest = divmod(centis, 360000)
    minutes, rest = divmod(rest, 6000)
    secs, centis = divmod(rest, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{centis:02d}"


def ass_colour(rgb: str) -> str:
    """RRGGBB → &H00BBGGRR."""
    return f"&H00{rgb[4:6]}{rgb[2:4]}{rgb[0:2]}".upper()


def ass_escape(text: str) -> str:
    """Make user text inert: braces open override blocks and a backslash starts a tag."""
    return text.replace("\\", "＼").replace("{", "｛").replace("}", "｝").replace("\n", " ")


def dialogue(start: float, end: float, style: str, text: str) -> str:
    """One `Dialogue:` event line; `text` is already escaped and tagged."""
    return f"Dialogue: 0,{ass_time(start)},{ass_time(end)},{style},,0,0,0,,{text}"


def ass_document(preset: Preset, styles: Sequence[AssStyle], events: Sequence[str]) -> str:
    """A whole ASS file whose canvas is the preset's frame."""
    lines = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {preset.width}",
        f"PlayResY: {preset.height}",
        "WrapStyle: 0",
        "ScaledBorderAndShadow: yes",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
        "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
        "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
    ]
    for s in styles:
        lines.append(
            f"Style: {s.name},{s.font},{s.size},{ass_colour(s.fill)},{ass_colour(s.secondary)},"
            f"{ass_colour(s.outline_colour)},&H80000000,{-1 if s.bold else 0},0,0,0,100,100,0,0,"
            f"{s.border_style},{s.outline},{s.shadow},{s.alignment},{s.margin_left},"
            f"{s.margin_right},0,1"
        )
    lines += ["", "[Events]",
              "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text"]
    lines += events
    return "\n".join(lines) + "\n"
