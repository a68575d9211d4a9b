"""The captions stage: word timings become short, readable, non-overlapping caption groups."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from pipeline.captions.build import (
    HOLD_GAP_SECONDS,
    MAX_CHARS,
    MAX_WORDS,
    MIN_SECONDS,
    CaptionStyle,
    build_captions,
    caption_anchor,
    caption_style,
    group_words,
    write_ass,
    write_groups_json,
    write_srt,
    write_vtt,
)
from pipeline.render.presets import PRESETS, Preset, get_preset
from pipeline.script.template import generate_script
from pipeline.types import CaptionGroup, IdeaSource, Voiceover, WordTiming
from pipeline.voice.espeak import EspeakVoice
from pipeline.voice.synthesis import synthesize_script

SENTENCE_ENDS = (".", "!", "?", "。", "！", "？", "؟", "…", ":", ";")
_TIME = r"(\d+:\d\d:\d\d\.\d\d)"
_DIALOGUE = re.compile(rf"^Dialogue: 0,{_TIME},{_TIME},(\w+),,0,0,0,,(.*)$")


def _words(*spec: tuple[str, float, float]) -> list[WordTiming]:
    return [WordTiming(text, start, end) for text, start, end in spec]


def _even_words(text: str, step: float = 0.25) -> list[WordTiming]:
    return [WordTiming(w, i * step, (i + 1) * step) for i, w in enumerate(text.split())]


def _assert_good_groups(words: Sequence[WordTiming], groups: Sequence[CaptionGroup]) -> None:
    """The caption-group rules every track must keep."""
    assert [w for g in groups for w in g.words] == list(words), "groups must cover every word"
    for group in groups:
        assert 1 <= len(group.words) <= MAX_WORDS
        assert len(group.text) <= MAX_CHARS or len(group.words) == 1, group.text
        assert not any(w.text.endswith(SENTENCE_ENDS) for w in group.words[:-1]), group.text
        assert group.end - group.start >= MIN_SECONDS - 1e-9
    for before, after in zip(groups, groups[1:], strict=False):
        assert after.start >= before.end - 1e-9, "groups must not overlap"


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> Voiceover:
    """A whole template script spoken by espeak-ng: real word timings."""
    script = generate_script(IdeaSource("Why sourdough bread needs patience, and €5 of flour?"))
    wav = tmp_path_factory.mktemp("voice") / "voice.wav"
    return synthesize_script(script, EspeakVoice(), wav)


def test_groups_of_real_speech_follow_the_rules(spoken: Voiceover) -> None:
    """On espeak timings: 1–3 words, ≤18 chars, no sentence crossing, ≥0.3 s, no overlap."""
    groups = group_words(spoken.words)
    _assert_good_groups(spoken.words, groups)
    assert max(len(g.words) for g in groups) == MAX_WORDS
    assert all(g.end <= spoken.duration for g in groups)


@pytest.mark.parametrize(
    "words",
    [
        _even_words("a b c d e f g h"),
        _even_words("Supercalifragilisticexpialidocious is long. Antidisestablishmentarianism!"),
        _even_words("One. Two. Three. Four words right here."),
        _even_words("Wait: here; then why? Fine!", step=0.05),
        _even_words("x y z w v u t s r q p", step=0.01),
        _even_words("كيف تصنع القهوة العربية في المنزل؟ سهل جدا."),
        _even_words("如何在家做咖啡。 简单！ 很好"),
        [],
    ],
    ids=["short", "long_words", "sentences", "punctuation", "very_fast", "arabic", "cjk", "empty"],
)
def test_groups_follow_the_rules(words: list[WordTiming]) -> None:
    """On synthetic timings the same rules hold, even for very fast speech and long words."""
    _assert_good_groups(words, group_words(words))


def test_long_word_stands_alone() -> None:
    """A word longer than 18 characters gets a group of its own."""
    groups = group_words(_even_words("see Supercalifragilisticexpialidocious now"))
    assert [g.text for g in groups] == ["see", "Supercalifragilisticexpialidocious", "now"]


def test_group_holds_until_the_next_one_within_a_sentence() -> None:
    """Inside a sentence a group stays up until the next starts if the gap is under 0.8 s."""
    words = _words(("one", 0.0, 0.2), ("two", 0.2, 0.4), ("three", 0.4, 0.6),
                   ("four", 1.0, 1.2), ("five.", 1.2, 1.5))
    first, second = group_words(words)
    assert first.text == "one two three"
    assert first.end == pytest.approx(1.0)
    assert second.end == pytest.approx(1.5)


def test_group_does_not_hold_across_a_long_pause() -> None:
    """After a pause longer than 0.8 s the group ends with its last word."""
    words = _words(("one", 0.0, 0.2), ("two", 0.2, 0.4), ("three", 0.4, 0.6),
                   ("four", 0.6 + HOLD_GAP_SECONDS + 0.5, 2.5))
    first, _ = group_words(words)
    assert first.end == pytest.approx(0.6)


def test_group_does_not_hold_across_a_sentence_end() -> None:
    """A group that ends a sentence disappears when its last word ends, not at the next start."""
    words = _words(("Stop.", 0.0, 0.5), ("Go", 0.7, 1.0))
    first, second = group_words(words)
    assert (first.end, second.start) == (0.5, 0.7)


def test_short_group_is_stretched_and_the_next_one_shifted() -> None:
    """A 0.1 s group lasts 0.3 s and the following group starts when it ends."""
    words = _words(("Hi.", 0.0, 0.1), ("there", 0.1, 0.5), ("friend.", 0.5, 0.9))
    first, second = group_words(words)
    assert (first.start, first.end) == (0.0, pytest.approx(MIN_SECONDS))
    assert second.start == pytest.approx(MIN_SECONDS)
    assert second.end == pytest.approx(0.9)


# --- ASS -------------------------------------------------------------------------------------


def _events(ass: str) -> list[tuple[str, str, str, str]]:
    return [m.groups() for line in ass.splitlines() if (m := _DIALOGUE.match(line))]


def _seconds(ass_time: str) -> float:
    hours, minutes, seconds = ass_time.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def test_ass_has_one_event_per_word_with_that_word_highlighted(spoken: Voiceover,
                                                               tmp_path: Path) -> None:
    """Each word gets an event in which it alone carries the highlight colour, in time order."""
    preset = get_preset("tiktok")
    groups = group_words(spoken.words)
    ass = write_ass(groups, preset, tmp_path / "c.ass").read_text(encoding="utf-8")
    events = _events(ass)
    assert len(events) == len(spoken.words)
    highlighted = [re.findall(r"\{\\c&H[0-9A-F]{8}\}(.*?)\{\\r\}", text) for *_, text in events]
    assert highlighted == [[w.text] for w in spoken.words]
    times = [(_seconds(a), _seconds(b)) for a, b, _, _ in events]
    assert all(start < end for start, end in times)
    for (_, end), (start, _) in zip(times, times[1:], strict=False):
        assert start >= end - 1e-9, "two caption events on screen at once"
    assert "\\c&H0000E5FF" in ass  # the highlight FFE500 as ASS BGR


def test_ass_neutralises_user_markup(tmp_path: Path) -> None:
    """Braces and backslashes typed by users are replaced, so no override tag of theirs survives."""
    words = _even_words(r"{\fs200}big a\Nb {\pos(0,0)}moved \h}{ end.")
    ass = write_ass(group_words(words), get_preset("tiktok"), tmp_path / "c.ass").read_text(
        encoding="utf-8")
    for raw in (r"{\fs200}", r"\N", r"{\pos(0,0)}", r"\h"):
        assert raw not in ass
    assert "｛＼fs200｝big" in ass and "a＼Nb" in ass
    for *_, text in _events(ass):
        for block in re.findall(r"\{([^}]*)\}", text):
            assert re.fullmatch(r"\\pos\(\d+,\d+\)|\\c&H[0-9A-F]{8}|\\r", block), block


def test_ass_events_never_overlap_after_a_short_group(tmp_path: Path) -> None:
    """When a stretched group pushes the next one later, that group's events start no earlier."""
    words = _words(("Hi.", 0.0, 0.1), ("a", 0.1, 0.2), ("b", 0.2, 0.3), ("c", 0.3, 0.6))
    ass = write_ass(group_words(words), get_preset("tiktok"), tmp_path / "c.ass").read_text(
        encoding="utf-8")
    times = [(_seconds(a), _seconds(b)) for a, b, _, _ in _events(ass)]
    for (_, end), (start, _) in zip(times, times[1:], strict=False):
        assert start >= end


def test_ass_canvas_style_and_uppercase(tmp_path: Path) -> None:
    """The ASS canvas is the preset's frame; `uppercase` shouts the words; the style is centred."""
    preset = get_preset("square")
    ass = write_ass(group_words(_even_words("hello there world.")), preset, tmp_path / "c.ass",
                    CaptionStyle(uppercase=True)).read_text(encoding="utf-8")
    assert "PlayResX: 1080\nPlayResY: 1080" in ass
    assert "Style: Caption,Noto Sans," in ass
    assert "HELLO" in ass and "hello" not in ass
    x, y, _ = caption_anchor(preset)
    assert all(text.startswith(f"{{\\pos({x},{y})}}") for *_, text in _events(ass))


@pytest.mark.parametrize(
    ("text", "family", "factor"),
    [("كيف تصنع القهوة العربية", "Noto Sans Arabic", 1.3),
     ("如何 在家 做咖啡", "Noto Sans CJK SC", 1.0),
     ("Crème brûlée", "Noto Sans", 1.0)],
)
def test_ass_names_the_font_of_the_script(text: str, family: str, factor: float,
                                          tmp_path: Path) -> None:
    """Arabic and CJK captions name their Noto family, Arabic a third larger."""
    preset = get_preset("tiktok")
    ass = write_ass(group_words(_even_words(text)), preset, tmp_path / "c.ass").read_text(
        encoding="utf-8")
    _, _, size = caption_anchor(preset)
    assert f"Style: Caption,{family},{round(size * factor)}," in ass


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_caption_anchor_is_inside_the_safe_zone(name: str) -> None:
    """The caption's centre and a line and a half below it stay out of the platform's UI."""
    preset: Preset = PRESETS[name]
    x, y, size = caption_anchor(preset)
    zone = preset.safe_zone
    assert preset.width * zone.left < x < preset.width * (1 - zone.right)
    assert preset.height * zone.top < y - size
    assert y + size * 1.5 <= preset.height * (1 - zone.bottom) + 0.5


# --- SRT, JSON, build_captions ----------------------------------------------------------------


def test_srt_round_trips_groups(spoken: Voiceover, tmp_path: Path) -> None:
    """The SRT numbers blocks from 1 and holds each group's text and times to the millisecond."""
    groups = group_words(spoken.words)
    srt = write_srt(groups, tmp_path / "c.srt").read_text(encoding="utf-8")
    blocks = srt.strip().split("\n\n")
    assert len(blocks) == len(groups)
    for number, (block, group) in enumerate(zip(blocks, groups, strict=True), start=1):
        index, times, text = block.split("\n")
        assert int(index) == number
        assert text == group.text
        match = re.fullmatch(r"(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)",
                             times)
        assert match
        h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, match.groups())
        assert h1 * 3600 + m1 * 60 + s1 + ms1 / 1000 == pytest.approx(group.start, abs=0.0006)
        assert h2 * 3600 + m2 * 60 + s2 + ms2 / 1000 == pytest.approx(group.end, abs=0.0006)


def test_srt_time_past_an_hour(tmp_path: Path) -> None:
    """Hours, minutes, seconds and milliseconds are all carried correctly."""
    group = CaptionGroup((WordTiming("late", 3661.5, 3662.0),), 3661.5, 3662.0)
    srt = write_srt([group], tmp_path / "c.srt").read_text(encoding="utf-8")
    assert "01:01:01,500 --> 01:01:02,000" in srt


def test_groups_json_round_trips(tmp_path: Path) -> None:
    """The JSON track rebuilds the same groups and keeps non-ASCII text readable."""
    groups = group_words(_even_words("كيف تصنع القهوة؟ Café 咖啡."))
    path = write_groups_json(groups, tmp_path / "c.json")
    assert "القهوة" in path.read_text(encoding="utf-8")
    data = json.loads(path.read_text(encoding="utf-8"))
    rebuilt = [CaptionGroup(tuple(WordTiming(**w) for w in g["words"]), g["start"], g["end"])
               for g in data]
    assert rebuilt == groups


def test_build_captions_writes_four_consistent_files(spoken: Voiceover, tmp_path: Path) -> None:
    """ASS, SRT, WebVTT and JSON are written for the same groups."""
    paths = build_captions(spoken.words, get_preset("tiktok"), tmp_path / "out")
    assert {k: p.name for k, p in paths.items()} == {
        "ass": "captions.ass", "srt": "captions.srt", "vtt": "captions.vtt",
        "json": "captions.json"}
    groups = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert len(groups) == paths["srt"].read_text(encoding="utf-8").count(" --> ")
    vtt = paths["vtt"].read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\n") and vtt.count(" --> ") == len(groups)
    assert len(_events(paths["ass"].read_text(encoding="utf-8"))) == len(spoken.words)


def test_vtt_marks_each_later_word_and_escapes_markup(tmp_path: Path) -> None:
    """WebVTT cues carry a timestamp tag before each later word, and user text is escaped."""
    words = (WordTiming("<b>Tom", 1.0, 1.4), WordTiming("&", 1.4, 1.6),
             WordTiming("Jerry", 1.6, 2.0))
    vtt = write_vtt([CaptionGroup(words, 1.0, 2.0)], tmp_path / "c.vtt").read_text()
    assert "00:00:01.000 --> 00:00:02.000" in vtt
    assert "&lt;b&gt;Tom <00:00:01.400>&amp; <00:00:01.600>Jerry" in vtt


def test_caption_style_from_options_stays_in_the_safe_zone() -> None:
    """Profile options set colours, size and case; any position is pulled into the safe zone."""
    preset = get_preset("tiktok")
    style = caption_style({"fill": "#00ff00", "size": 108, "uppercase": True, "position": 0.99})
    assert (style.fill, style.uppercase) == ("00FF00", True)
    x, y, size = caption_anchor(preset, style)
    assert size == 108
    assert y + size * 1.5 <= preset.height * (1 - preset.safe_zone.bottom)
    _, top_y, top_size = caption_anchor(preset, caption_style({"position": 0.0}))
    assert top_y - top_size * 1.5 >= preset.height * preset.safe_zone.top - 1
