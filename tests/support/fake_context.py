"""An ExecutorContext that records what an executor asked for, on a virtual clock."""

from __future__ import annotations

import asyncio

from loadlens.engine.clock import VirtualClock


class FakeUser:
    """A closed-model user handle that remembers when it started and retired."""

    def __init__(self, started: float, iterations: int | None) -> None:
        self.started = started
        self.iterations = iterations
        self.retired_at: float | None = None

    def retire(self) -> None:
        self.retired_at = -1.0


class FakeContext:
    """Records users and arrivals; users never really run."""

    def __init__(self, worker_index: int = 0, worker_count: int = 1, max_users: int = 10**9):
        self.clock = VirtualClock()
        self.worker_index = worker_index
        self.worker_count = worker_count
        self.users: list[FakeUser] = []
        self.arrivals: list[float] = []
        self.max_users = max_users
        self.dropped = 0
        self.waited_until: float | None = None

    def start_user(self, iterations: int | None = None) -> FakeUser:
        user = FakeUser(self.clock.now(), iterations)
        self.users.append(user)
        return user

    def start_arrival(self, t: float) -> bool:
        # The executor must never release an arrival before it is due.
        assert t <= self.clock.now() + 1e-9, (t, self.clock.now())
        self.arrivals.append(t)
        return True

    async def wait_users(self, until: float) -> None:
        self.waited_until = until
        await self.clock.sleep_until(until)

    def active_users(self) -> int:
        return sum(1 for u in self.users if u.retired_at is None)


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]
