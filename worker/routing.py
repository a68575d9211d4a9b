"""How each stage runs in the fleet: its queue, its message priority and its time limits.

Fleet concerns, kept out of the pipeline (which knows only the stages' order) and out of the
store (which is told the queues when it writes a job).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.sequence import STAGE_NAMES


@dataclass(frozen=True)
class StageRoute:
    """Where and for how long one stage runs."""

    stage: str
    queue: str  # "gpu" for model inference, "cpu" for the rest
    # Redis serves the lowest number first (kombu keeps one list per step: 0, 3, 6, 9). A
    # later stage goes first, so started jobs finish and publish while a batch is still
    # queued, instead of every publish waiting behind all of the batch's renders.
    priority: int
    soft_time_limit: float  # seconds; the stage is told to stop and fails with a reason
    time_limit: float  # seconds; the worker process is killed


ROUTES: tuple[StageRoute, ...] = (
    StageRoute("script", "cpu", 9, 120, 150),
    StageRoute("voice", "gpu", 6, 600, 660),
    StageRoute("captions", "gpu", 3, 300, 360),
    StageRoute("render", "cpu", 3, 1800, 1900),
    StageRoute("publish", "cpu", 0, 300, 360),
)
assert tuple(route.stage for route in ROUTES) == STAGE_NAMES, "a route per stage, in order"
# Reading a feed: first in line on the cpu queue, so a batch's jobs start soon.
INGEST_ROUTE = StageRoute("ingest", "cpu", 9, 1700, 1800)
INGEST_MARK = "ingest"  # the dispatch mark of a batch's ingest message, keyed by batch id
QUEUES: tuple[str, ...] = ("cpu", "gpu")
STAGE_QUEUES: dict[str, str] = {route.stage: route.queue for route in ROUTES}


def route_for(stage: str) -> StageRoute:
    """The route of a stage by its name."""
    for route in ROUTES:
        if route.stage == stage:
            return route
    raise KeyError(stage)


def longest_time_limit(time_limit_scale: float) -> float:
    """The longest hard time limit of any stage, in seconds, at a TIME_LIMIT_SCALE."""
    return max(route.time_limit for route in (*ROUTES, INGEST_ROUTE)) * time_limit_scale
