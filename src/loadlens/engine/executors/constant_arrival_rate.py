"""constant-arrival-rate: iterations start at a fixed rate (open model)."""

from __future__ import annotations

from loadlens.engine.executors.arrivals import ArrivalSchedule, release_arrivals
from loadlens.engine.executors.base import ExecutorContext
from loadlens.scenario.load import ConstantArrivalRate

__all__ = ["run"]


async def run(config: ConstantArrivalRate, ctx: ExecutorContext) -> None:
    """Release `rate` arrivals per second for `duration`."""
    await release_arrivals(ArrivalSchedule(config.rate, [(config.duration, config.rate)]), ctx)
