"""The stage sequence, defined once: order, queue, progress weight and time limits."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.types import StageName


@dataclass(frozen=True)
class StageSpec:
    """How one stage runs in the fleet."""

    name: StageName
    queue: str  # "gpu" for model inference, "cpu" for the rest
    weight: int  # share of the job's overall progress, in percent
    soft_time_limit: float  # seconds; the stage is told to stop and fails with a reason
    time_limit: float  # seconds; the worker process is killed


STAGE_SEQUENCE: tuple[StageSpec, ...] = (
    StageSpec(StageName.SCRIPT, "cpu", 5, 120, 150),
    StageSpec(StageName.VOICE, "gpu", 15, 600, 660),
    StageSpec(StageName.CAPTIONS, "gpu", 5, 300, 360),
    StageSpec(StageName.RENDER, "cpu", 70, 1800, 1900),
    StageSpec(StageName.PUBLISH, "cpu", 5, 300, 360),
)
STAGE_NAMES: tuple[str, ...] = tuple(spec.name.value for spec in STAGE_SEQUENCE)
QUEUES: tuple[str, ...] = ("cpu", "gpu")


def spec_for(stage: str) -> StageSpec:
    """The spec of a stage by its name."""
    for spec in STAGE_SEQUENCE:
        if spec.name.value == stage:
            return spec
    raise KeyError(stage)


def overall_percent(stage: str, stage_fraction: float) -> int:
    """Job progress when `stage` is `stage_fraction` done and every earlier stage is done."""
    done = 0.0
    for spec in STAGE_SEQUENCE:
        if spec.name.value == stage:
            done += spec.weight * min(1.0, max(0.0, stage_fraction))
            break
        done += spec.weight
    return min(100, int(done))
