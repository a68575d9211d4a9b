"""The script stage: a one-line idea becomes a deterministic, speakable script."""

from __future__ import annotations

import json

import pytest

from pipeline.script.template import TemplateScriptGenerator, generate_script
from pipeline.sources.readers import read_source
from pipeline.text.clean import has_words
from pipeline.types import IdeaSource, Scene, Script, StageError


def test_without_points_the_template_says_only_the_idea_and_a_call_to_action() -> None:
    """No LLM and no points: a short, honest video: the idea as the hook, one scene, and the
    call to action; no invented filler."""
    script = generate_script(IdeaSource("Three habits of great bakers."))
    assert script.title == "Three habits of great bakers"
    assert [s.narration for s in script.scenes] == ["Three habits of great bakers.",
                                                   "Follow for more ideas like this."]
    assert script.scenes[0].headline == script.title
    assert script.scenes[-1].headline == script.call_to_action == "Follow for more"
    assert script.language == "en"
    assert script.narration == " ".join(s.narration for s in script.scenes)
    for filler in ("details make all the difference", "a few simple choices", "break it down"):
        assert filler not in script.narration.lower()


def test_points_become_the_scenes_in_order() -> None:
    """Each point is a scene, said as given (with a full stop), headed by its first words."""
    script = generate_script(IdeaSource(
        "Why cold brew tastes smoother than hot coffee",
        points=("Cold water pulls out fewer bitter compounds", "It steeps for 12 to 24 hours!",
                "Less acid means a rounder taste?", "  ", "🔥")))
    assert [s.narration for s in script.scenes] == [
        "Why cold brew tastes smoother than hot coffee.",
        "Cold water pulls out fewer bitter compounds.", "It steeps for 12 to 24 hours.",
        "Less acid means a rounder taste?", "Follow for more ideas like this."]
    assert [s.headline for s in script.scenes[1:4]] == [
        "Cold water pulls out fewer bitter…", "It steeps for 12 to 24…",
        "Less acid means a rounder taste"]


def test_same_idea_same_script() -> None:
    """Generation is deterministic: the same idea always gives an identical script."""
    idea = IdeaSource("How to keep basil alive", points=("Water it from below",))
    assert generate_script(idea) == generate_script(idea)


@pytest.mark.parametrize(
    ("idea", "opening"),
    [
        ("Why do cats purr?", "Why do cats purr?"),
        ("Why do cats purr？", "Why do cats purr？"),
        ("لماذا تخرخر القطط؟", "لماذا تخرخر القطط؟"),
        ("Cats purr!!!", "Cats purr."),
        ("Cats purr…", "Cats purr."),
    ],
)
def test_opening_keeps_question_or_ends_with_a_full_stop(idea: str, opening: str) -> None:
    """A question keeps its own mark; other trailing punctuation becomes a single full stop."""
    script = generate_script(IdeaSource(idea))
    assert script.scenes[0].narration == opening
    assert script.title == opening[:-1]


@pytest.mark.parametrize(
    ("idea", "points", "language", "call_to_action"),
    [
        ("Warum kalter Kaffee milder schmeckt", ("Kaltes Wasser löst weniger Bitterstoffe",),
         "de", "Folge uns für mehr Ideen wie diese."),
        ("Pourquoi le café froid est plus doux", ("L'eau froide extrait moins d'amertume",),
         "fr", "Abonne-toi pour plus d'idées comme celle-ci."),
        ("¿Por qué el café frío es más suave?", ("El agua fría extrae menos amargor",), "es",
         "Síguenos para más ideas como esta."),
    ],
)
def test_template_speaks_the_ideas_language(idea: str, points: tuple[str, ...], language: str,
                                            call_to_action: str) -> None:
    """The language is detected from the idea and its points, and the call to action is in
    it."""
    script = generate_script(IdeaSource(idea, points=points))
    assert script.language == language
    assert len(script.scenes) == 3
    assert script.scenes[-1].narration == call_to_action


def test_language_without_template_words_is_never_mixed_with_english() -> None:
    """An idea in a language the template lacks becomes a script of that idea alone."""
    script = generate_script(IdeaSource("Почему холодный кофе мягче горячего"))
    assert script.language == "ru"
    assert [s.narration for s in script.scenes] == ["Почему холодный кофе мягче горячего."]


def test_requested_language_wins_over_detection() -> None:
    """An explicit language picks the template even for an ambiguous one-word idea."""
    assert generate_script(IdeaSource("Espresso", language="de")).language == "de"


def test_hashtags_are_longest_topic_words_then_shorts() -> None:
    """Hashtags: up to three distinct lowercase topic words longer than 3 letters, then #shorts."""
    script = generate_script(IdeaSource("The Ultimate guide to baking sourdough bread at home"))
    assert script.hashtags == ("#sourdough", "#ultimate", "#baking", "#shorts")
    short = generate_script(IdeaSource("Why is the sky red?"))
    assert short.hashtags == ("#shorts",)


def test_robust_ideas_give_a_speakable_script(robust_idea: str,
                                              emoji_chars: frozenset[str]) -> None:
    """Quotes, accents, Arabic, CJK, ASS markup and emoji all give a script with no emoji in it."""
    script = generate_script(IdeaSource(robust_idea))
    assert has_words(script.title)
    spoken_and_shown = script.narration + script.title + "".join(s.headline for s in script.scenes)
    assert not set(spoken_and_shown) & emoji_chars
    assert all(has_words(scene.narration) for scene in script.scenes)


def test_emoji_idea_keeps_its_words(emoji_idea: str) -> None:
    """Removing emoji keeps every word the user typed, in order."""
    script = generate_script(IdeaSource(emoji_idea))
    words = [w for w in emoji_idea.split() if has_words(w)]
    assert script.title.split() == [w.rstrip("\ufe0f\u20e3") for w in words]


@pytest.mark.parametrize("idea", ["🚀🔥", "   ", "— … !", "👩‍💻 ⭐", "\u202e\u200d"])
def test_idea_without_words_is_rejected(idea: str) -> None:
    """An idea with nothing speakable fails in the script stage with code `empty_idea`."""
    with pytest.raises(StageError) as caught:
        generate_script(IdeaSource(idea))
    assert caught.value.stage == "script"
    assert caught.value.code == "empty_idea"
    assert "few words" in caught.value.message


def test_script_round_trips_through_json() -> None:
    """`to_dict` → JSON → `from_dict` gives back an equal script, non-ASCII text included."""
    script = generate_script(IdeaSource("كيف تصنع القهوة؟ 咖啡"))
    again = Script.from_dict(json.loads(json.dumps(script.to_dict(), ensure_ascii=False)))
    assert again == script
    assert isinstance(again.scenes, tuple) and isinstance(again.hashtags, tuple)


def test_a_users_script_is_spoken_as_written() -> None:
    """A script source skips every generator: its scenes, media and hashtags are the user's."""
    source = read_source({"type": "script", "title": "", "call_to_action": "Shop now",
                          "hashtags": ["coffee", "#brew"],
                          "scenes": [{"narration": " Cold brew is smoother. ", "headline": "Smooth",
                                      "search_terms": ["cold brew"], "media": ["upl_a", "upl_b"]},
                                     {"narration": "It keeps for days.", "media": []},
                                     {"narration": "Try it.", "media": ["upl_c"]}]}, "en")
    script = generate_script(source, _Exploding())
    assert [s.narration for s in script.scenes] == ["Cold brew is smoother.",
                                                   "It keeps for days.", "Try it."]
    assert [s.visuals for s in script.scenes] == [(0, 1), (), (2,)]
    assert script.scenes[0].search_terms == ("cold brew",)
    assert (script.title, script.call_to_action, script.hashtags) == (
        "Smooth", "Shop now", ("#coffee", "#brew"))


class _Exploding:
    name = "exploding"

    def available(self) -> bool:
        return True

    def generate(self, source: IdeaSource) -> Script:
        raise AssertionError("a user's script must not be rewritten")


def test_generate_script_uses_the_given_generator() -> None:
    """`generate_script` delegates to the generator it is given instead of the template one."""

    class Fixed:
        name = "fixed"

        def available(self) -> bool:
            return True

        def generate(self, source: IdeaSource) -> Script:
            return Script(source.idea, (Scene("Said.", "Shown"),), "cta", ())

    assert generate_script(IdeaSource("x"), Fixed()).scenes == (Scene("Said.", "Shown"),)
    assert TemplateScriptGenerator().available()
