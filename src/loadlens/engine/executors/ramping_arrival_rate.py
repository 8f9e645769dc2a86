"""ramping-arrival-rate: the arrival rate follows linear stages (open model)."""

from __future__ import annotations

from loadlens.engine.executors.arrivals import ArrivalSchedule, release_arrivals
from loadlens.engine.executors.base import ExecutorContext
from loadlens.scenario.load import RampingArrivalRate

__all__ = ["run"]


async def run(config: RampingArrivalRate, ctx: ExecutorContext) -> None:
    """Release arrivals at a rate moving linearly from stage to stage."""
    schedule = ArrivalSchedule(config.start_rate, [(s.duration, s.target) for s in config.stages])
    await release_arrivals(schedule, ctx)
