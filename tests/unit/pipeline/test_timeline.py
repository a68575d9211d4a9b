"""The timeline: one pure function lays every layer of a video on the voice's clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.render.presets import get_preset
from pipeline.render.timeline import (
    END_CARD_SECONDS,
    MAX_VISUAL_SECONDS,
    TITLE_MIN_SECONDS,
    TRANSITION_SECONDS,
    MediaItem,
    Price,
    build_timeline,
)
from pipeline.types import Scene, SceneTiming, Script, StageError, Voiceover

PRESET = get_preset("tiktok")


def _voice(*scene_lengths: float) -> Voiceover:
    scenes, t = [], 0.0
    for i, length in enumerate(scene_lengths):
        scenes.append(SceneTiming(i, t, t + length))
        t += length + 0.3
    return Voiceover(t, 22050, (), tuple(scenes), "espeak")


def _script(count: int) -> Script:
    return Script("Cold brew", tuple(Scene(f"s{i}", f"Headline {i}") for i in range(count)),
                  "Follow for more", ("#coffee",))


def test_visuals_cover_the_video_and_overlap_by_the_transitions() -> None:
    """Visual i+1 starts half a transition before their boundary and i ends half after it."""
    timeline = build_timeline(_script(4), _voice(3, 4, 12, 5), Path("v.wav"), PRESET)
    visuals, transitions = timeline.visuals, timeline.transitions
    assert visuals[0].start == 0.0 and visuals[-1].end == pytest.approx(timeline.duration)
    assert len(transitions) == len(visuals) - 1
    for before, after, transition in zip(visuals, visuals[1:], transitions, strict=False):
        assert after.start == pytest.approx(transition.at - TRANSITION_SECONDS / 2)
        assert before.end == pytest.approx(transition.at + TRANSITION_SECONDS / 2)
    # Between transitions no visual lasts longer than the limit: the picture keeps changing.
    edges = [0.0] + [t.at for t in transitions] + [timeline.duration]
    assert max(b - a for a, b in zip(edges, edges[1:], strict=False)) <= MAX_VISUAL_SECONDS + 1e-9
    assert timeline.duration == pytest.approx(timeline.voice_duration + END_CARD_SECONDS)


def test_motions_alternate_and_media_are_used_in_order(tmp_path: Path) -> None:
    """Stills take the user's pictures in order, moving a different way each time."""
    media = [MediaItem(tmp_path / f"{i}.jpg", "still") for i in range(3)]
    timeline = build_timeline(_script(3), _voice(4, 4, 4), Path("v.wav"), PRESET, media=media)
    stills = [v for v in timeline.visuals if v.kind == "still"]
    assert [v.source for v in stills] == [m.path for m in media]
    assert all(a.motion != b.motion for a, b in zip(stills, stills[1:], strict=False))
    assert timeline.visuals[-1].kind == "generated"  # the end card
    assert not [t for t in timeline.texts if t.kind == "headline"]  # pictures speak


def test_text_layers_title_badge_and_end_card() -> None:
    """The title opens for at least 2 s, the badge follows it, the end card closes the video."""
    timeline = build_timeline(_script(4), _voice(1.5, 4, 4, 4), Path("v.wav"), PRESET,
                              price=Price("$29.99", "$19.99"))
    kinds = {t.kind: t for t in timeline.texts}
    assert kinds["title"].start == 0.0 and kinds["title"].end >= TITLE_MIN_SECONDS
    assert kinds["badge"].text == "$19.99" and kinds["badge"].secondary == "$29.99"
    assert kinds["badge"].start == kinds["title"].end
    assert kinds["badge"].end == kinds["end"].start
    assert kinds["end"].end == timeline.duration and kinds["end"].text == "Follow for more"
    assert timeline.texts_at(timeline.duration - 0.1) == [kinds["end"]]


def test_short_voice_is_padded_to_the_preset_minimum() -> None:
    """A few seconds of speech still give a video of the platform's minimum length."""
    timeline = build_timeline(_script(1), _voice(2.0), Path("v.wav"), PRESET)
    assert timeline.duration == PRESET.min_duration


def test_voice_longer_than_the_platform_allows_is_refused_before_rendering() -> None:
    """A script too long for the preset fails with a message naming the limit."""
    with pytest.raises(StageError) as caught:
        build_timeline(_script(1), _voice(70.0), Path("v.wav"), get_preset("shorts"))
    assert caught.value.code == "too_long" and "60 s" in caught.value.message


def test_scenes_spoken_under_the_title_do_not_make_empty_visuals() -> None:
    """Very short first scenes fold into the title visual instead of a zero-length one."""
    timeline = build_timeline(_script(4), _voice(0.4, 0.4, 0.4, 6), Path("v.wav"), PRESET)
    assert all(v.duration > TRANSITION_SECONDS for v in timeline.visuals)
    assert [t.at for t in timeline.transitions] == sorted(t.at for t in timeline.transitions)


def test_brand_palettes_use_the_brand_colours(tmp_path: Path) -> None:
    """Generated backgrounds of a branded profile are gradients of its own colours."""
    from PIL import Image

    from pipeline.render.visuals import brand_palettes, render_background

    palettes = brand_palettes("#0044FF", "#FFAA00")
    render_background(0, 90, 160, tmp_path / "b.jpg", palettes=palettes)
    top = Image.open(tmp_path / "b.jpg").convert("RGB").getpixel((2, 2))
    assert top[2] > 150 and top[0] < 90  # blue at the top, as the brand's primary
    render_background(2, 90, 160, tmp_path / "c.jpg", palettes=palettes)
    bottom = Image.open(tmp_path / "c.jpg").convert("RGB").getpixel((45, 157))
    assert bottom[0] > 180 and bottom[2] < 120  # into the accent at the bottom


def _compilation() -> Script:
    scenes = [Scene("Here are three picks.", "Top 3")]
    scenes += [Scene(f"Number {k}.", f"{k}. Item", price=f"${k}0.00",
                     was_price="$99.00" if k == 2 else "", visuals=visuals)
               for k, visuals in ((1, (0, 1)), (2, ()), (3, (2,)))]
    scenes.append(Scene("Follow for more.", "Follow"))
    return Script("Top 3", tuple(scenes), "Follow", (), kind="compilation",
                  end_title="Acme", end_subtitle="shop.example.com")


def test_compilation_scenes_show_their_own_pictures_numbers_and_prices(tmp_path: Path) -> None:
    """Each numbered scene shows its product's pictures, its headline and its price badge."""
    media = [MediaItem(tmp_path / f"{i}.jpg", "still") for i in range(3)]
    timeline = build_timeline(_compilation(), _voice(2.5, 7, 3, 3, 2), Path("v.wav"), PRESET,
                              media=media)
    voice_scenes = _voice(2.5, 7, 3, 3, 2).scenes

    def sources_during(scene: int) -> set[Path | None]:
        s = voice_scenes[scene]
        return {v.source for v in timeline.visuals
                if v.start < s.end - 0.3 and v.end > s.start + 0.3 and v.kind != "generated"}

    assert sources_during(1) == {media[0].path, media[1].path}  # split in two, both shown
    assert sources_during(3) == {media[2].path}
    headlines = [t.text for t in timeline.texts if t.kind == "headline"]
    assert headlines[:3] == ["1. Item", "2. Item", "3. Item"]  # over real pictures too
    badges = [(t.text, t.secondary) for t in timeline.texts if t.kind == "badge"]
    assert badges == [("$10.00", ""), ("$20.00", "$99.00"), ("$30.00", "")]
    end = timeline.texts[-1]
    assert (end.kind, end.text, end.secondary) == ("end", "Acme", "shop.example.com")


def test_a_product_script_carries_its_own_price_badge() -> None:
    """Script.price / was_price become the whole-video badge when the job sets no price."""
    script = Script("Mug", (Scene("Meet the mug.", "Mug"), Scene("It keeps heat.", "Heat")),
                    "Shop now", (), kind="product", price="$15.00", was_price="$20.00")
    timeline = build_timeline(script, _voice(3, 4), Path("v.wav"), PRESET)
    badge = next(t for t in timeline.texts if t.kind == "badge")
    assert (badge.text, badge.secondary) == ("$15.00", "$20.00")


def test_one_clip_over_several_visuals_plays_on_instead_of_restarting(tmp_path: Path) -> None:
    """A clip shown across consecutive visuals continues where it was, in step with the
    timeline, and starts again only when it would run out."""
    clip = MediaItem(tmp_path / "c.mp4", "clip", duration=12.0)
    timeline = build_timeline(_script(3), _voice(5, 5, 5), Path("v.wav"), PRESET, media=[clip])
    clips = [v for v in timeline.visuals if v.kind == "clip"]
    assert len(clips) >= 3
    assert clips[0].clip_in == 0.0
    assert clips[1].clip_in == pytest.approx(clips[1].start)
    for visual in clips:
        assert visual.clip_in + (visual.end - visual.start) <= 12.0 + TRANSITION_SECONDS
    assert any(v.clip_in < prev.clip_in for prev, v in zip(clips, clips[1:], strict=False))
