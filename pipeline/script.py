"""The script stage: a source becomes a `Script` (what is said, scene by scene)."""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

from pipeline.text import clean_text, has_words
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


# Two deterministic sets of beats; the idea's hash picks one so that different ideas
# do not all sound the same, while the same idea always gives the same script.
_BEATS: tuple[tuple[tuple[str, str], ...], ...] = (
    (
        ("Most people never stop to think about it, but the details make all the difference.",
         "The short version"),
        ("It comes down to a few simple choices, made with care, one step at a time.",
         "What really matters"),
        ("Once you see how it works, you start to notice it everywhere you look.",
         "Why it works"),
        ("Try it for yourself this week, and judge the difference with your own eyes.",
         "Your turn"),
    ),
    (
        ("Here is the part nobody tells you, and it is simpler than you might expect.",
         "The secret"),
        ("Small changes add up quickly, and the results speak for themselves.",
         "Small changes, big results"),
        ("The best part is that anyone can do it, with nothing more than a little patience.",
         "Anyone can do it"),
        ("Give it a try today, and tell us how it went in the comments.",
         "Try it today"),
    ),
)

_CALL_TO_ACTION = "Follow for more ideas like this."


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
        """Write a 30-second-ish script around the idea."""
        idea = clean_text(source.idea)
        if not has_words(idea):
            raise StageError("script", "empty_idea",
                             "the idea has no words left once emoji and symbols are removed; "
                             "describe it in a few words")
        topic = idea.rstrip(_TRAILING_PUNCTUATION).strip() or idea
        ends_as_question = idea.endswith(("?", "？", "؟"))
        opening = f"{topic}?" if ends_as_question else f"{topic}."
        digest = int(hashlib.sha256(topic.encode()).hexdigest(), 16)
        beats = _BEATS[digest % len(_BEATS)]
        scenes = [Scene(narration=f"{opening} Let's break it down.", headline=topic)]
        scenes += [Scene(narration=line, headline=headline) for line, headline in beats]
        scenes.append(Scene(narration=_CALL_TO_ACTION, headline="Follow for more"))
        return Script(
            title=topic,
            scenes=tuple(scenes),
            call_to_action=_CALL_TO_ACTION,
            hashtags=_hashtags(topic),
            language="en",
        )


def generate_script(source: IdeaSource, generator: ScriptGenerator | None = None) -> Script:
    """Run the script stage with the given generator (the template one by default)."""
    return (generator or TemplateScriptGenerator()).generate(source)
