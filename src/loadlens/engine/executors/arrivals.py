"""Arrival schedules for open models: when the k-th iteration is due (pure arithmetic)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from loadlens.engine.executors.base import ExecutorContext

__all__ = ["ArrivalSchedule", "release_arrivals"]


class ArrivalSchedule:
    """Arrival times for a rate that moves linearly between stage targets.

    The k-th arrival (k = 0, 1, ...) is due when the integral of the rate reaches k, so a
    constant 801/s for 10 s gives exactly 8010 arrivals, and worker i of n takes every n-th
    of them starting at i: the split is exact and the workers interleave evenly.
    """

    def __init__(self, start_rate: float, stages: Sequence[tuple[float, float]]) -> None:
        self._stages: list[tuple[float, float, float, float, float]] = []
        t, rate, count = 0.0, start_rate, 0.0
        for duration, target in stages:
            if duration > 0:
                area = (rate + target) / 2 * duration
                self._stages.append((t, duration, rate, target, count))
                count += area
                t += duration
            rate = target
        self.duration = t
        self.total = count
        self._cursor = 0

    def time_of(self, k: int) -> float | None:
        """When arrival k is due, in seconds since start; None if it falls after the end."""
        if k >= self.total - 1e-9:
            return None
        stages = self._stages
        i = self._cursor if self._cursor < len(stages) and stages[self._cursor][4] <= k else 0
        while i + 1 < len(stages) and stages[i + 1][4] <= k:
            i += 1
        self._cursor = i
        start, duration, r0, r1, before = stages[i]
        x = k - before  # arrivals into this stage
        slope = (r1 - r0) / duration
        if abs(slope) < 1e-12:
            offset = x / r0
        else:
            # Solve r0*t + slope*t^2/2 = x for the smallest t >= 0.
            disc = max(r0 * r0 + 2 * slope * x, 0.0)
            offset = (math.sqrt(disc) - r0) / slope
        t = start + min(max(offset, 0.0), duration)
        return t if t < self.duration else None


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
