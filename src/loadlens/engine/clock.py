"""The clock executors pace themselves by; tests inject a virtual one."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["EARLY_S", "Clock", "MonotonicClock", "VirtualClock"]

EARLY_S = 0.0005


class Clock(Protocol):
    """Seconds since the run's start, and a way to wait for a moment.

    Callers may assume `now()` never goes backwards. `sleep_until(t)` returns no earlier
    than `t - EARLY_S` (immediately if that has passed) and is cancellable;
    implementations must not busy-wait.
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
        """Sleep until t, returning at most EARLY_S before it."""
        # uvloop rounds timers to whole milliseconds against a cached clock, so it can wake
        # up to 1 ms early. Sleeping again while more than half a millisecond remains gets
        # within 0.5 ms of t without ever spinning (a sub-0.5 ms sleep rounds to zero).
        # A virtual user never times from an intended start later than its actual start,
        # so an arrival sent a little early is timed from when it was really sent.
        while (delay := t - self.now()) > EARLY_S:
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
