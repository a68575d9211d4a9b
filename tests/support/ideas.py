"""Ideas whose videos last as long as the timing-sensitive end-to-end tests need.

Offline, an idea without points is a short video (the idea and a call to action). Tests that
kill, cut or cancel a worker mid-stage need stages that take a while, so their ideas carry
points: about half a minute of narration, as a real script has.
"""

from __future__ import annotations

from typing import Any

POINTS = (
    "It begins with a simple question that most people never stop to ask themselves",
    "The answer comes down to a few small details that change the whole result",
    "Once you notice them, you will start to see the same pattern almost everywhere",
    "Try it yourself this week and compare the difference with your own eyes",
)


def idea_source(idea: str) -> dict[str, Any]:
    """An idea source with POINTS: a script of about thirty seconds."""
    return {"type": "idea", "idea": idea, "points": list(POINTS)}
