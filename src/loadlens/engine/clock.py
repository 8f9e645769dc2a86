"""The clock executors pace themselves by; tests inject a virtual one."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "MonotonicClock", "VirtualClock"]


class Clock(Protocol):
    """Seconds since the run's start, and a way to wait for a moment.

    Callers may assume `now()` never goes backwards. `sleep_until(t)` returns at or after
    `t` (immediately if `t` has passed) and is cancellable; implementations must not
    busy-wait.
    """

    def now(self) -> float:
        """Seconds since the run's start."""
        ...

    def ns_at(self, t: float) -> int:
        """The CLOCK_MONOTONIC nanosecond instant of run time `t`."""
        ...

    async def sleep_until(self, t: float) -> None:
        """Wait until `now() >= t`."""
        ...


class MonotonicClock:
    """The real clock: CLOCK_MONOTONIC, shared by every process on the machine."""

    def __init__(self, t0_ns: int) -> None:
        self.t0_ns = t0_ns

    def now(self) -> float:
        """Seconds since t0."""
        return (time.monotonic_ns() - self.t0_ns) / 1e9

    def ns_at(self, t: float) -> int:
        """The monotonic nanosecond timestamp of run time `t`."""
        return self.t0_ns + int(t * 1e9)

    async def sleep_until(self, t: float) -> None:
        """Sleep until t; never returns early."""
        # uvloop rounds timers to whole milliseconds and can wake up to 1 ms before the
        # deadline; an arrival released early would show a latency below its service time.
        while (delay := t - self.now()) > 0:
            await asyncio.sleep(delay)


class VirtualClock:
    """A clock that jumps to whatever moment is awaited: executors tested without sleeping."""

    def __init__(self) -> None:
        self._now = 0.0

    def now(self) -> float:
        """Virtual seconds since start."""
        return self._now

    def ns_at(self, t: float) -> int:
        """Virtual nanoseconds of run time `t`."""
        return int(t * 1e9)

    async def sleep_until(self, t: float) -> None:
        """Jump to t, then let other tasks run once."""
        self._now = max(self._now, t)
        await asyncio.sleep(0)
