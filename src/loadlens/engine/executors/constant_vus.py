"""constant-vus: a fixed number of users loop for a fixed time (closed model)."""

from __future__ import annotations

from loadlens.engine.executors.base import ExecutorContext, share
from loadlens.scenario.load import ConstantVUs

__all__ = ["run"]


async def run(config: ConstantVUs, ctx: ExecutorContext) -> None:
    """Start this worker's users, then hold until the duration is over."""
    for _ in range(share(config.users, ctx.worker_index, ctx.worker_count)):
        ctx.start_user()
    await ctx.clock.sleep_until(config.duration)
