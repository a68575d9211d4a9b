"""Text cards: title, scene headlines and end card as one ASS file drawn over the backgrounds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.ass import ass_colour, ass_escape, ass_time
from pipeline.cards import FADE_MS, Card, TimedCard, write_cards_ass
from pipeline.fonts import dominant_script, family_for, needs_character_wrap
from pipeline.presets import get_preset

_DIALOGUE = re.compile(r"^Dialogue: 0,([\d:.]+),([\d:.]+),(\w+),,0,0,0,,(.*)$")
_STYLE = re.compile(r"^Style: (\w+),([^,]+),(\d+),")


def _parse(path: Path) -> tuple[dict[str, tuple[str, int]], list[tuple[str, str, str, str]]]:
    text = path.read_text(encoding="utf-8")
    styles = {m[1]: (m[2], int(m[3])) for line in text.splitlines() if (m := _STYLE.match(line))}
    events = [m.groups() for line in text.splitlines() if (m := _DIALOGUE.match(line))]
    return styles, events


def _payload(event_text: str) -> str:
    """The card text after the leading override block the writer adds."""
    assert event_text.startswith("{\\pos(")
    return event_text[event_text.index("}") + 1 :]


def _cards(*cards: Card, length: float = 2.0) -> list[TimedCard]:
    return [TimedCard(card, i * length, (i + 1) * length) for i, card in enumerate(cards)]


def test_one_event_per_card_plus_sublines(tmp_path: Path) -> None:
    """Each card is one fading event at its times; the end card's subline is a second event."""
    timed = _cards(Card("title", "My title"), Card("scene", "A headline", palette_index=1),
                   Card("end", "Follow for more", "#tag #shorts", palette_index=2))
    styles, events = _parse(write_cards_ass(timed, get_preset("tiktok"), tmp_path / "cards.ass"))
    assert len(events) == 4
    assert [(e[0], e[1]) for e in events] == [
        (ass_time(0), ass_time(2)), (ass_time(2), ass_time(4)),
        (ass_time(4), ass_time(6)), (ass_time(4), ass_time(6))]
    assert all(f"\\fad({FADE_MS},{FADE_MS})" in e[3] for e in events)
    assert [_payload(e[3]) for e in events] == ["My title", "A headline", "Follow for more",
                                                "#tag #shorts"]
    assert set(styles) == {e[2] for e in events}
    # The subline is half the card's size.
    end_size = styles[events[2][2]][1]
    assert f"\\fs{round(end_size * 0.5)}" in events[3][3]


def test_card_text_is_escaped(tmp_path: Path) -> None:
    """Braces, backslashes and newlines in a headline or subline cannot inject ASS tags."""
    timed = _cards(Card("title", "{\\fs300}Huge\\Nline\nnext"),
                   Card("end", "Follow", "#a {\\c&H0000FF&} \\h"))
    path = write_cards_ass(timed, get_preset("tiktok"), tmp_path / "cards.ass")
    text = path.read_text(encoding="utf-8")
    assert "{\\fs300}" not in text and "\\Nline" not in text and "{\\c&H0000FF&}" not in text
    _, events = _parse(path)
    assert _payload(events[0][3]) == "｛＼fs300｝Huge＼Nline next"
    assert _payload(events[2][3]).endswith("#a ｛＼c&H0000FF&｝ ＼h")
    assert len(text.splitlines()) == text.count("\n")  # the newline did not split an event


def test_cjk_headline_is_broken_into_lines(tmp_path: Path) -> None:
    """A long headline without spaces is cut into lines with \\N; the characters stay in order."""
    headline = "如何在家里用简单的工具做出一杯非常好喝的咖啡和茶"
    path = write_cards_ass(_cards(Card("scene", headline)), get_preset("tiktok"),
                           tmp_path / "cards.ass")
    styles, events = _parse(path)
    lines = _payload(events[0][3]).split("\\N")
    assert len(lines) >= 2
    assert "".join(lines) == headline
    assert len({len(line) for line in lines[:-1]}) == 1
    assert styles[events[0][2]][0] == "Noto Sans CJK SC"


def test_spaced_headline_is_left_to_libass(tmp_path: Path) -> None:
    """A Latin or Arabic headline gets no forced breaks; libass wraps it at spaces."""
    headline = "A fairly long headline that libass will wrap by itself at spaces"
    _, events = _parse(write_cards_ass(_cards(Card("scene", headline)), get_preset("tiktok"),
                                       tmp_path / "cards.ass"))
    assert "\\N" not in events[0][3]


def test_arabic_card_uses_arabic_font_larger(tmp_path: Path) -> None:
    """An Arabic title names Noto Sans Arabic at 1.3 × the Latin size."""
    preset = get_preset("tiktok")
    styles, events = _parse(write_cards_ass(
        _cards(Card("title", "كيف"), Card("title", "How")), preset, tmp_path / "cards.ass"))
    arabic, latin = (styles[e[2]] for e in events)
    assert arabic[0] == "Noto Sans Arabic" and latin[0] == "Noto Sans"
    assert arabic[1] == round(round(0.1 * preset.width * 1.3))
    assert latin[1] == round(0.1 * preset.width)


def test_long_headline_shrinks_but_not_below_half(tmp_path: Path) -> None:
    """Longer headlines are drawn smaller, never below half the base size."""
    preset = get_preset("tiktok")
    headlines = ["Short", "A" * 60, "A" * 5000]
    styles, events = _parse(write_cards_ass(
        _cards(*(Card("scene", h) for h in headlines)), preset, tmp_path / "cards.ass"))
    sizes = [styles[e[2]][1] for e in events]
    base = round(0.085 * preset.width)
    assert sizes[0] == base
    assert base > sizes[1] > sizes[2] >= base // 2


def test_cards_sit_inside_the_safe_zone(tmp_path: Path) -> None:
    """Card text is centred between the safe margins, in the upper part of the frame."""
    preset = get_preset("tiktok")
    _, events = _parse(write_cards_ass(_cards(Card("title", "T"), Card("scene", "S")), preset,
                                       tmp_path / "cards.ass"))
    zone = preset.safe_zone
    for *_, text in events:
        x, y = map(int, re.match(r"\{\\pos\((\d+),(\d+)\)", text).groups())
        assert preset.width * zone.left < x < preset.width * (1 - zone.right)
        assert preset.height * zone.top < y < preset.height / 2
    assert "PlayResX: 1080\nPlayResY: 1920" in (tmp_path / "cards.ass").read_text()


# --- ASS building blocks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00:00.00"), (1.234, "0:00:01.23"), (59.996, "0:01:00.00"),
     (3723.456, "1:02:03.46"), (-1, "0:00:00.00")],
)
def test_ass_time(seconds: float, text: str) -> None:
    """Times are H:MM:SS.cc, rounded to the centisecond and never negative."""
    assert ass_time(seconds) == text


def test_ass_colour_is_bgr() -> None:
    """RRGGBB becomes &H00BBGGRR with an opaque alpha."""
    assert ass_colour("FFE500") == "&H0000E5FF"
    assert ass_colour("ff0080") == "&H008000FF"


def test_ass_escape() -> None:
    """Backslashes and braces become full-width look-alikes and newlines become spaces."""
    assert ass_escape("{\\b1}x\\Ny\nz") == "｛＼b1｝x＼Ny z"
    assert ass_escape("كيف 咖啡 «ok»") == "كيف 咖啡 «ok»"


# --- fonts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "script", "family"),
    [("Hello world", "LATIN", "Noto Sans"),
     ("Привет", "LATIN", "Noto Sans"),
     ("كيف تصنع", "ARABIC", "Noto Sans Arabic"),
     ("שלום", "HEBREW", "Noto Sans Hebrew"),
     ("नमस्ते", "DEVANAGARI", "Noto Sans Devanagari"),
     ("咖啡豆 and 咖啡", "CJK", "Noto Sans CJK SC"),
     ("ひらがな", "HIRAGANA", "Noto Sans CJK JP"),
     ("한국어", "HANGUL", "Noto Sans CJK KR"),
     ("123 !?", "LATIN", "Noto Sans")],
)
def test_font_family_follows_the_dominant_script(text: str, script: str, family: str) -> None:
    """The script most letters belong to picks the Noto family."""
    assert dominant_script(text) == script
    assert family_for(text)[0] == family


@pytest.mark.parametrize(
    ("text", "wrap"),
    [("如何在家做咖啡", True), ("ภาษาไทย", True), ("如何 在家", False), ("Hello", False),
     ("كيف", False)],
)
def test_needs_character_wrap(text: str, wrap: bool) -> None:
    """Only space-less CJK or Thai text needs breaks between characters."""
    assert needs_character_wrap(text) is wrap
