"""Text over the visuals (title, headlines, price badge, end card) as one ASS file, and the ASS
and font helpers it is built from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.captions.ass import ass_colour, ass_escape, ass_time
from pipeline.render.cards import FADE_MS, text_anchor, write_cards_ass
from pipeline.render.fonts import dominant_script, family_for, needs_character_wrap
from pipeline.render.presets import PRESETS, Preset, get_preset
from pipeline.render.timeline import Brand, TextLayer

TIKTOK = get_preset("tiktok")
_DIALOGUE = re.compile(r"^Dialogue: 0,([\d:.]+),([\d:.]+),(\w+),,0,0,0,,(.*)$")
_POS = re.compile(r"^\{\\pos\((\d+),(\d+)\)")

Styles = dict[str, dict[str, str]]
Events = list[tuple[str, str, str, str]]


def _parse(path: Path) -> tuple[Styles, Events]:
    """Styles by name (fields named by the file's Format line) and the Dialogue events."""
    lines = path.read_text(encoding="utf-8").splitlines()
    fields = next(line for line in lines if line.startswith("Format: Name,"))
    names = [name.strip() for name in fields.removeprefix("Format:").split(",")]
    styles = {}
    for line in lines:
        if line.startswith("Style: "):
            values = line.removeprefix("Style: ").split(",")
            assert len(values) == len(names)
            styles[values[0]] = dict(zip(names, values, strict=True))
    events = [m.groups() for line in lines if (m := _DIALOGUE.match(line))]
    return styles, events


def _write(tmp_path: Path, *layers: TextLayer, preset: Preset = TIKTOK,
           brand: Brand | None = None) -> tuple[Styles, Events]:
    return _parse(write_cards_ass(layers, preset, tmp_path / "cards.ass", brand))


def _payload(text: str) -> str:
    """The event text after the leading position-and-fade override block."""
    assert _POS.match(text) and f"\\fad({FADE_MS},{FADE_MS})" in text[: text.index("}")]
    return text[text.index("}") + 1:]


def _pos(text: str) -> tuple[int, int]:
    x, y = _POS.match(text).groups()
    return int(x), int(y)


def test_one_event_per_layer_plus_the_end_cards_second_line(tmp_path: Path) -> None:
    """Each layer is one fading event at its times; the end card's hashtags are a second one."""
    styles, events = _write(
        tmp_path,
        TextLayer("title", "My title", 0.0, 2.0),
        TextLayer("headline", "A headline", 2.0, 4.0),
        TextLayer("badge", "$19", 2.0, 6.0),
        TextLayer("end", "Follow for more", 6.0, 8.5, "#tag #shorts"))
    assert [(e[0], e[1]) for e in events] == [
        (ass_time(0), ass_time(2)), (ass_time(2), ass_time(4)), (ass_time(2), ass_time(6)),
        (ass_time(6), ass_time(8.5)), (ass_time(6), ass_time(8.5))]
    assert [_payload(e[3]) for e in events[:4]] == ["My title", "A headline", "$19",
                                                    "Follow for more"]
    assert set(styles) == {e[2] for e in events}
    # The second line shares the end card's style, half its size, below it.
    end_style, second = styles[events[3][2]], events[4]
    assert second[2] == events[3][2]
    size = int(end_style["Fontsize"])
    assert second[3].endswith(f"\\fs{round(size * 0.5)}\\fad({FADE_MS},{FADE_MS})}}#tag #shorts")
    (x, y), (x2, y2) = _pos(events[3][3]), _pos(second[3])
    assert x2 == x and y2 == y + 2 * size


def test_badge_is_an_opaque_box_in_the_brand_colour(tmp_path: Path) -> None:
    """The badge style is border style 3 (a box) filled with brand.primary; other text is
    outlined in black; all of it uses the brand's text colour and font."""
    brand = Brand(primary="112233", accent="AABBCC", text="FEFDFC", font="Montserrat")
    styles, events = _write(tmp_path, TextLayer("title", "Title", 0, 2),
                            TextLayer("badge", "$5", 2, 4), brand=brand)
    title, badge = (styles[e[2]] for e in events)
    assert badge["BorderStyle"] == "3" and badge["OutlineColour"] == ass_colour("112233")
    assert badge["Shadow"] == "0" and int(badge["Outline"]) >= 3
    assert title["BorderStyle"] == "1" and title["OutlineColour"] == ass_colour("000000")
    for style in (title, badge):
        assert style["PrimaryColour"] == ass_colour("FEFDFC")
        assert style["Fontname"] == "Montserrat"
    # Without a brand, the default look.
    styles, events = _write(tmp_path, TextLayer("badge", "$5", 0, 2))
    assert styles[events[0][2]]["OutlineColour"] == ass_colour(Brand().primary)


def test_sale_badge_strikes_the_regular_price_through(tmp_path: Path) -> None:
    """A sale badge shows the regular price struck (\\s1), smaller, in the accent colour, then
    the sale price; a plain price has no strike."""
    brand = Brand(accent="00FF7F")
    styles, events = _write(tmp_path, TextLayer("badge", "$19.99", 0, 3, "$29.99"),
                            TextLayer("badge", "$9", 3, 5), brand=brand)
    assert len(events) == 2  # the regular price is part of the badge, not an event of its own
    size = int(styles[events[0][2]]["Fontsize"])
    assert _payload(events[0][3]) == (
        f"{{\\s1\\fs{round(size * 0.6)}\\c{ass_colour('00FF7F')}}}$29.99{{\\r}}\\N$19.99")
    assert _payload(events[1][3]) == "$9" and "\\s1" not in events[1][3]


def test_text_is_escaped(tmp_path: Path) -> None:
    """Braces, backslashes and newlines in any text cannot inject ASS tags or split events."""
    path = write_cards_ass([
        TextLayer("title", "{\\fs300}Huge\\Nline\nnext", 0, 2),
        TextLayer("badge", "{\\c&HFF&}$1", 2, 3, "\\N$2"),
        TextLayer("end", "Follow", 3, 5, "#a {\\c&H0000FF&} \\h"),
    ], TIKTOK, tmp_path / "cards.ass")
    text = path.read_text(encoding="utf-8")
    for injected in ("{\\fs300}", "\\Nline", "{\\c&HFF&}", "{\\c&H0000FF&}", "\\h"):
        assert injected not in text
    _, events = _parse(path)
    assert len(events) == 4
    assert _payload(events[0][3]) == "｛＼fs300｝Huge＼Nline next"
    assert _payload(events[1][3]).endswith("}＼N$2{\\r}\\N｛＼c&HFF&｝$1")
    assert events[3][3].endswith("#a ｛＼c&H0000FF&｝ ＼h")


def test_cjk_text_is_broken_into_lines(tmp_path: Path) -> None:
    """A long headline without spaces is cut into equal lines with \\N, characters in order."""
    headline = "如何在家里用简单的工具做出一杯非常好喝的咖啡和茶"
    styles, events = _write(tmp_path, TextLayer("headline", headline, 0, 2))
    lines = _payload(events[0][3]).split("\\N")
    assert len(lines) >= 2 and "".join(lines) == headline
    assert len({len(line) for line in lines[:-1]}) == 1
    assert styles[events[0][2]]["Fontname"] == "Noto Sans CJK SC"


def test_spaced_text_is_left_to_libass(tmp_path: Path) -> None:
    """Latin and Arabic text gets no forced breaks; libass wraps it at spaces."""
    _, events = _write(tmp_path,
                       TextLayer("headline", "A fairly long headline that libass wraps", 0, 2),
                       TextLayer("headline", "لماذا القهوة الباردة أنعم من القهوة الساخنة", 2, 4))
    assert all("\\N" not in e[3] for e in events)


def test_arabic_uses_the_arabic_family_larger(tmp_path: Path) -> None:
    """Arabic text names Noto Sans Arabic at 1.3 × the size; Latin text uses the brand font."""
    styles, events = _write(tmp_path, TextLayer("title", "كيف", 0, 2),
                            TextLayer("title", "How", 2, 4), brand=Brand(font="Montserrat"))
    arabic, latin = (styles[e[2]] for e in events)
    assert arabic["Fontname"] == "Noto Sans Arabic" and latin["Fontname"] == "Montserrat"
    assert int(arabic["Fontsize"]) == round(0.1 * TIKTOK.width * 1.3)
    assert int(latin["Fontsize"]) == round(0.1 * TIKTOK.width)


def test_long_text_shrinks_but_not_below_half(tmp_path: Path) -> None:
    """Longer headlines are drawn smaller, never below half the base size."""
    styles, events = _write(tmp_path, *(TextLayer("headline", text, i, i + 1)
                                        for i, text in enumerate(["Short", "A" * 60, "A" * 5000])))
    sizes = [int(styles[e[2]]["Fontsize"]) for e in events]
    base = round(0.085 * TIKTOK.width)
    assert sizes[0] == base
    assert base > sizes[1] > sizes[2] >= base // 2


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_anchors_sit_inside_the_safe_zone(name: str, tmp_path: Path) -> None:
    """Every kind of text (and the end card's second line) is placed inside the safe zone,
    exactly at text_anchor."""
    preset = get_preset(name)
    zone = preset.safe_zone
    kinds = ("title", "headline", "badge", "end")
    styles, events = _write(tmp_path, *(TextLayer(kind, "Text", 0, 1, "#tag" if kind == "end"
                                                  else "") for kind in kinds), preset=preset)
    assert [_pos(e[3]) for e in events[:4]] == [text_anchor(kind, preset) for kind in kinds]
    for event in events:
        x, y = _pos(event[3])
        assert preset.width * zone.left < x < preset.width * (1 - zone.right)
        assert preset.height * zone.top < y < preset.height * (1 - zone.bottom)
        style = styles[event[2]]
        # The text's half height above the anchor stays below the top overlay too.
        assert y - int(style["Fontsize"]) > preset.height * zone.top
        assert int(style["MarginL"]) >= preset.width * zone.left
        assert int(style["MarginR"]) >= preset.width * zone.right
    text = (tmp_path / "cards.ass").read_text(encoding="utf-8")
    assert f"PlayResX: {preset.width}\nPlayResY: {preset.height}" in text


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
