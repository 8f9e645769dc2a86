"""The real clock under uvloop: sleep_until never returns more than EARLY_S before t."""

from __future__ import annotations

import time

import uvloop

from loadlens.engine.clock import EARLY_S, MonotonicClock


def test_sleep_until_is_not_early_under_uvloop() -> None:
    async def probe() -> list[float]:
        clock = MonotonicClock(time.monotonic_ns())
        early = []
        t = 0.0
        for i in range(200):
            t += 0.0003 + (i % 7) * 0.0004  # deadlines that fall between uvloop's ms ticks
            await clock.sleep_until(t)
            early.append(t - clock.now())
        return early

    early = uvloop.run(probe())
    assert max(early) <= EARLY_S + 1e-6
