"""constant-arrival-rate: iterations start at a fixed rate (open model)."""

from __future__ import annotations

from loadlens.engine.executors.arrivals import ArrivalSchedule
from loadlens.engine.executors.base import ExecutorContext
from loadlens.scenario.load import ConstantArrivalRate

__all__ = ["release_arrivals", "run"]


async def release_arrivals(schedule: ArrivalSchedule, ctx: ExecutorContext) -> None:
    """Start this worker's arrivals on schedule: every worker_count-th, from worker_index."""
    k = ctx.worker_index
    step = ctx.worker_count
    clock = ctx.clock
    while (t := schedule.time_of(k)) is not None:
        if t > clock.now():
            await clock.sleep_until(t)
        # Arrivals already due (timer granularity, a busy loop) are released at once; each
        # keeps its own intended time, so lateness shows in latency, not hidden.
        ctx.start_arrival(t)
        k += step
    await clock.sleep_until(schedule.duration)


async def run(config: ConstantArrivalRate, ctx: ExecutorContext) -> None:
    """Release `rate` arrivals per second for `duration`."""
    await release_arrivals(ArrivalSchedule(config.rate, [(config.duration, config.rate)]), ctx)
