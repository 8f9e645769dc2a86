"""The generator watching itself: event-loop lag and CPU, sampled on the worker's loop."""

from __future__ import annotations

import asyncio
import time
from array import array

__all__ = ["CpuMeter", "LoopLagProbe", "RunQueueMeter"]


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


class RunQueueMeter:
    """How long this thread was runnable but waiting for a CPU: the time other processes
    (or our own other threads) took from it. A late loop with a long wait was crowded out;
    a late loop without one was busy with our own work.

    Read from Linux's /proc/thread-self/schedstat (its second field: run-queue delay in ns,
    kept whenever the kernel has CONFIG_SCHED_INFO, as distributions do). Where that is
    missing, only the count of involuntary context switches (psutil) is known.
    """

    _PATH = "/proc/thread-self/schedstat"

    def __init__(self) -> None:
        self._delay_ns = self._read_delay_ns()
        self._switches = self._read_switches()
        self._wall = time.monotonic()

    def _read_delay_ns(self) -> int | None:
        try:
            with open(self._PATH, "rb") as f:
                return int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            return None

    @staticmethod
    def _read_switches() -> int:
        import psutil  # (already loaded by the coordinator: the worker is forked from it)

        try:
            return int(psutil.Process().num_ctx_switches().involuntary)
        except psutil.Error:
            return 0

    def read(self) -> tuple[float | None, int]:
        """Since the previous reading: ms spent waiting for a CPU per second of wall time
        (None where unknown), and the involuntary context switches."""
        delay, switches, wall = self._read_delay_ns(), self._read_switches(), time.monotonic()
        waited = None
        if delay is not None and self._delay_ns is not None:
            waited = max(delay - self._delay_ns, 0) / 1e6 / max(wall - self._wall, 1e-3)
        preempted = max(switches - self._switches, 0)
        self._delay_ns, self._switches, self._wall = delay, switches, wall
        return waited, preempted
