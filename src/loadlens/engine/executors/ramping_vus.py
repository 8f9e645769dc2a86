"""ramping-vus: the number of users follows linear stages (closed model)."""

from __future__ import annotations

from loadlens.engine.executors.base import ExecutorContext, UserHandle, share
from loadlens.scenario.load import RampingVUs

__all__ = ["TICK", "run", "users_at"]

TICK = 0.05  # seconds between adjustments; users change by whole numbers anyway


def users_at(config: RampingVUs, t: float) -> float:
    """The total target users at run time t (linear within each stage)."""
    start, users = 0.0, float(config.start_users)
    for stage in config.stages:
        if t < start + stage.duration:
            frac = (t - start) / stage.duration
            return users + (stage.target - users) * frac
        start += stage.duration
        users = float(stage.target)
    return users


async def run(config: RampingVUs, ctx: ExecutorContext) -> None:
    """Add or retire this worker's users to follow the stages, until they end."""
    running: list[UserHandle] = []
    total = config.total_duration
    while True:
        now = ctx.clock.now()
        wanted = share(int(users_at(config, now) + 1e-9), ctx.worker_index, ctx.worker_count)
        while len(running) < wanted:
            running.append(ctx.start_user())
        while len(running) > wanted:
            # Newest first; a retired user finishes its iteration (graceful ramp-down).
            running.pop().retire()
        if now >= total:
            return
        await ctx.clock.sleep_until(min(now + TICK, total))
