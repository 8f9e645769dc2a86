"""per-vu-iterations: each user runs a fixed number of iterations (closed model)."""

from __future__ import annotations

from loadlens.engine.executors.base import ExecutorContext, share
from loadlens.scenario.load import PerVUIterations

__all__ = ["run"]


async def run(config: PerVUIterations, ctx: ExecutorContext) -> None:
    """Start this worker's users with their iteration budget and wait for them."""
    for _ in range(share(config.users, ctx.worker_index, ctx.worker_count)):
        ctx.start_user(iterations=config.iterations)
    await ctx.wait_users(until=config.max_duration)
