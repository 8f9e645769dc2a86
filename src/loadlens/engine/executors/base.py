"""The seam between load models and the worker that runs them."""

from __future__ import annotations

from typing import Protocol

from loadlens.engine.clock import Clock

__all__ = ["ExecutorContext", "UserHandle", "share"]


def share(total: int, index: int, count: int) -> int:
    """Worker `index`'s part of `total` when split over `count` workers (parts sum to total)."""
    return total // count + (1 if index < total % count else 0)


class UserHandle(Protocol):
    """A running closed-model user."""

    def retire(self) -> None:
        """Finish the current iteration, then stop."""
        ...


class ExecutorContext(Protocol):
    """What an executor drives on one worker.

    An executor's `run(config, ctx)` starts users or arrivals and returns when its model
    says no new work should start; the worker then lets in-flight iterations finish. The
    executor may assume: `clock.now()` is seconds since the run's start, shared by all
    workers; `start_user` and `start_arrival` never block; stopping early (Ctrl-C, an
    aborting threshold) cancels the executor's task, so it needs no stop checks of its own.
    It must: take only its own share of the load (`share`, or every `worker_count`-th
    arrival starting at `worker_index`), and never busy-wait.
    """

    clock: Clock
    worker_index: int
    worker_count: int

    def start_user(self, iterations: int | None = None) -> UserHandle:
        """Start a closed-model user looping iterations (at most `iterations`, if given)."""
        ...

    def start_arrival(self, t: float) -> bool:
        """Start one open-model iteration scheduled at run time `t`; False if dropped."""
        ...

    async def wait_users(self, until: float) -> None:
        """Wait until every closed-model user has finished, or run time `until`."""
        ...
