"""capacity: step the arrival rate up until the SLO breaks (open, stepped model).

Each worker only releases the stepped schedule; the coordinator judges every finished
step against the SLO and stops the run at the first step that breaks it.
"""

from __future__ import annotations

from loadlens.engine.executors.arrivals import ArrivalSchedule, release_arrivals
from loadlens.engine.executors.base import ExecutorContext
from loadlens.scenario.load import Capacity

__all__ = ["run", "schedule_of"]


def schedule_of(config: Capacity) -> ArrivalSchedule:
    """Constant-rate steps, each `step_rate` above the last."""
    stages: list[tuple[float, float]] = []
    for step in range(config.max_steps):
        rate = config.rate_of_step(step)
        stages += [(0.0, rate), (config.step_duration, rate)]
    return ArrivalSchedule(config.start_rate, stages)


async def run(config: Capacity, ctx: ExecutorContext) -> None:
    """Release the stepped arrivals until the last step or a stop from the coordinator."""
    await release_arrivals(schedule_of(config), ctx)
