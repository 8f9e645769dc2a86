"""The generator watching itself: event-loop lag and CPU, sampled on the worker's loop."""

from __future__ import annotations

import asyncio
import time
from array import array

__all__ = ["CpuMeter", "LoopLagProbe"]


class LoopLagProbe:
    """Measures how late a short timer fires: a busy loop delays every response we time."""

    INTERVAL = 0.01

    def __init__(self) -> None:
        self.samples = array("q")  # lag in ns, drained each second

    async def run(self) -> None:
        """Sample forever (cancel to stop)."""
        interval_ns = int(self.INTERVAL * 1e9)
        while True:
            before = time.monotonic_ns()
            await asyncio.sleep(self.INTERVAL)
            self.samples.append(max(time.monotonic_ns() - before - interval_ns, 0))

    def drain(self) -> array[int]:
        """The samples since the last drain."""
        out, self.samples = self.samples, array("q")
        return out


class CpuMeter:
    """This process's CPU use (user + system) between two readings, in percent of one core."""

    def __init__(self) -> None:
        self._cpu = time.process_time()
        self._wall = time.monotonic()

    def read(self) -> float:
        """Percent of one core since the previous reading."""
        cpu, wall = time.process_time(), time.monotonic()
        percent = 100.0 * (cpu - self._cpu) / max(wall - self._wall, 1e-6)
        self._cpu, self._wall = cpu, wall
        return percent
