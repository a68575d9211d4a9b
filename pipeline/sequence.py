"""The stage sequence, defined once: the stages' order and their share of a job's progress.

How the fleet runs them (queues, priorities, time limits) is worker/routing.py's concern.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.types import StageName


@dataclass(frozen=True)
class StageSpec:
    """One stage of the sequence."""

    name: StageName
    weight: int  # share of the job's overall progress, in percent


STAGE_SEQUENCE: tuple[StageSpec, ...] = (
    StageSpec(StageName.SCRIPT, 5),
    StageSpec(StageName.VOICE, 15),
    StageSpec(StageName.CAPTIONS, 5),
    StageSpec(StageName.RENDER, 70),
    StageSpec(StageName.PUBLISH, 5),
)
STAGE_NAMES: tuple[str, ...] = tuple(spec.name.value for spec in STAGE_SEQUENCE)


def overall_percent(stage: str, stage_fraction: float) -> int:
    """Job progress when `stage` is `stage_fraction` done and every earlier stage is done."""
    done = 0.0
    for spec in STAGE_SEQUENCE:
        if spec.name.value == stage:
            done += spec.weight * min(1.0, max(0.0, stage_fraction))
            break
        done += spec.weight
    return min(100, int(done))
