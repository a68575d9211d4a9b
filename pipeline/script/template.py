"""The script stage: a source becomes a `Script` (what is said, scene by scene)."""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

from pipeline.script.templates import TEMPLATES
from pipeline.sources.product import ProductSource
from pipeline.text.clean import clean_text, has_words
from pipeline.text.language import base_language, detect_language
from pipeline.types import IdeaSource, Scene, Script, StageError

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
    """Offline, deterministic scripts from a one-line idea: the default generator."""

    name = "template"

    def available(self) -> bool:
        """Always: it needs nothing but Python."""
        return True

    def generate(self, source: IdeaSource) -> Script:
        """Write a 30-second-ish script around the idea, in the idea's language.

        Languages without template words get the idea alone: the script never mixes
        languages, since one voice reads all of it.
        """
        idea = clean_text(source.idea)
        if not has_words(idea):
            raise StageError("script", "empty_idea",
                             "the idea has no words left once emoji and symbols are removed; "
                             "describe it in a few words")
        language = base_language(source.language) if source.language else detect_language(idea)
        topic = idea.rstrip(_TRAILING_PUNCTUATION).strip() or idea
        ends_as_question = idea.endswith(("?", "？", "؟"))
        # A question keeps its own question mark (？ and ؟ included); anything else ends in ".".
        opening = f"{topic}{idea[-1]}" if ends_as_question else f"{topic}."
        words = TEMPLATES.get(language)
        if words is None:
            return Script(title=topic, scenes=(Scene(narration=opening, headline=topic),),
                          call_to_action="", hashtags=_hashtags(topic), language=language)
        digest = int(hashlib.sha256(topic.encode()).hexdigest(), 16)
        beats = words.beats[digest % len(words.beats)]
        scenes = [Scene(narration=f"{opening} {words.lead_in}", headline=topic)]
        scenes += [Scene(narration=line, headline=headline) for line, headline in beats]
        scenes.append(Scene(narration=words.call_to_action,
                            headline=words.call_to_action_headline))
        return Script(
            title=topic,
            scenes=tuple(scenes),
            call_to_action=words.call_to_action_headline,
            hashtags=_hashtags(topic),
            language=language,
        )


def generate_script(source: IdeaSource | ProductSource,
                    generator: ScriptGenerator | None = None) -> Script:
    """Run the script stage with the given generator; by default the offline template of the
    source's kind (an idea, or a product and a compilation of products)."""
    if generator is not None:
        return generator.generate(source)  # type: ignore[arg-type]
    if isinstance(source, ProductSource):
        from pipeline.script.product import generate_product_script

        return generate_product_script(source)
    return TemplateScriptGenerator().generate(source)
