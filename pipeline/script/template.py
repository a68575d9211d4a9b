"""The script stage: a source becomes a `Script` (what is said, scene by scene)."""

from __future__ import annotations

import re
from typing import Protocol

from pipeline.script.templates import TEMPLATES
from pipeline.sources.product import ProductSource
from pipeline.text.clean import clean_text, has_words
from pipeline.text.language import base_language, detect_language
from pipeline.types import IdeaSource, Scene, Script, ScriptSource, StageError

_TRAILING_PUNCTUATION = ".!?。！？…,;:؟"


class ScriptGenerator(Protocol):
    """Turns a source into a script."""

    name: str

    def available(self) -> bool:
        """Whether the generator can run on this machine."""

    def generate(self, source: IdeaSource) -> Script:
        """Write the script.

        Args:
            source: what the user asked for.
        Returns:
            A script whose narration a voice engine can read.
        """


def _hashtags(topic: str, limit: int = 3) -> tuple[str, ...]:
    words = sorted({w for w in re.findall(r"\w+", topic.lower()) if len(w) > 3},
                   key=lambda w: (-len(w), w))
    return tuple(f"#{w}" for w in words[:limit]) + ("#shorts",)


class TemplateScriptGenerator:
    """Offline, deterministic scripts from an idea and the user's points: the generator
    without an LLM. It says only what it was given: the idea as the hook, each point as a
    scene, and a call to action; without points the video is short rather than padded with
    filler (configure an LLM, or send points, for a full script)."""

    name = "template"

    def available(self) -> bool:
        """Always: it needs nothing but Python."""
        return True

    def generate(self, source: IdeaSource) -> Script:
        """Write the script in the idea's language.

        Languages without template words get no spoken call to action: the script never
        mixes languages, since one voice reads all of it.
        """
        idea = clean_text(source.idea)
        if not has_words(idea):
            raise StageError("script", "empty_idea",
                             "the idea has no words left once emoji and symbols are removed; "
                             "describe it in a few words")
        points = [clean_text(point) for point in source.points]
        points = [_sentence(point) for point in points if has_words(point)]
        language = base_language(source.language) if source.language else detect_language(
            " ".join([idea, *points]))
        topic = idea.rstrip(_TRAILING_PUNCTUATION).strip() or idea
        scenes = [Scene(narration=_sentence(idea), headline=topic)]
        scenes += [Scene(narration=point, headline=_headline(point)) for point in points]
        words = TEMPLATES.get(language)
        if words is not None:
            scenes.append(Scene(narration=words.call_to_action,
                                headline=words.call_to_action_headline))
        return Script(title=topic, scenes=tuple(scenes),
                      call_to_action=words.call_to_action_headline if words else "",
                      hashtags=_hashtags(topic), language=language)


def _sentence(text: str) -> str:
    """The text as one spoken sentence: a question keeps its own mark (？ and ؟ included),
    anything else ends in a single full stop."""
    if text.endswith(("?", "？", "؟")):
        return text
    return f"{text.rstrip(_TRAILING_PUNCTUATION).strip() or text}."


def _headline(point: str, max_words: int = 6) -> str:
    """A point's first words, for the screen."""
    words = point.rstrip(_TRAILING_PUNCTUATION).split()
    return " ".join(words[:max_words]) + ("…" if len(words) > max_words else "")


def generate_script(source: IdeaSource | ProductSource | ScriptSource,
                    generator: ScriptGenerator | None = None) -> Script:
    """Run the script stage with the given generator; by default the offline template of the
    source's kind (an idea, or a product and a compilation of products). A user's own script
    is spoken as written, whatever the generator."""
    if isinstance(source, ScriptSource):
        return source.script
    if generator is not None:
        return generator.generate(source)  # type: ignore[arg-type]
    if isinstance(source, ProductSource):
        from pipeline.script.product import generate_product_script

        return generate_product_script(source)
    return TemplateScriptGenerator().generate(source)
