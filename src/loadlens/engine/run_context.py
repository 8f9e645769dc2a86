"""The real ExecutorContext: users, arrivals and their tasks on one worker's loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Protocol

from loadlens.engine.clock import Clock
from loadlens.engine.data_feeder import DataExhausted
from loadlens.engine.virtual_user import UserCommons, VirtualUser
from loadlens.metrics.recorder import IntervalRecorder
from loadlens.scenario.model import Scenario

__all__ = ["ClosedUser", "RunContext", "ScriptFactory", "ScriptedIterations"]


class ScriptedIterations(Protocol):
    """Iterations written as Python coroutines (a Python scenario), not as flows of steps.

    The engine knows nothing of how they are written: a factory given to the coordinator
    builds one per worker, after the fork. It names the endpoints and checks it records
    (in the order the worker met them: the coordinator matches them across workers by
    name) and counts the exceptions its iterations raised.
    """

    endpoint_names: list[tuple[str, str, str]]  # (name, method, url) by recorder index
    check_names: list[str]  # by recorder index

    async def iteration(self, user: VirtualUser, intended_ns: int | None) -> None:
        """Run one iteration of `user`."""

    def forget(self, user: VirtualUser) -> None:
        """`user` is gone."""

    def take_errors(self) -> dict[str, int]:
        """Exceptions raised since the last call, counted by kind."""


ScriptFactory = Callable[[Scenario, IntervalRecorder, int, int], ScriptedIterations]
"""Builds a worker's scripted iterations: (scenario, recorder, worker index, worker count)."""


class ClosedUser:
    """A closed-model user's handle: the executor may retire it."""

    __slots__ = ("retired",)

    def __init__(self) -> None:
        self.retired = False

    def retire(self) -> None:
        """Finish the current iteration, then stop."""
        self.retired = True


class RunContext:
    """Runs users and arrivals as tasks of the worker's TaskGroup, and counts them."""

    def __init__(
        self,
        clock: Clock,
        worker_index: int,
        worker_count: int,
        commons: UserCommons,
        tasks: asyncio.TaskGroup,
        max_users: int | None,
        script: ScriptedIterations | None = None,
    ) -> None:
        self.clock = clock
        self._script = script
        self.worker_index = worker_index
        self.worker_count = worker_count
        self._commons = commons
        self._tasks = tasks
        self._max_users = max_users
        self._idle: list[VirtualUser] = []
        self._open_users = 0
        self._running: set[asyncio.Task[None]] = set()
        self._busy: set[VirtualUser] = set()  # open-model users mid-arrival (no task)
        flows = commons.flows
        # One flow of one request, no pauses, no data rows to hand out: iterations run as
        # bare callback chains.
        self._single_request = (
            flows[0].steps[0].request
            if len(flows) == 1
            and flows[0].is_single_request
            and not commons.feeders
            and commons.on_start is None
            else None
        )  # (a Python scenario has no flows: None)
        self.data_exhausted = asyncio.Event()  # a feeder said stop: the worker ends its run
        self.exhausted_source = ""
        self._all_done = asyncio.Event()
        self._all_done.set()
        self.stopping = False
        self.users = 0
        # Every user this worker made (an open model's idle ones included): the requests in
        # flight are counted from them once a second, not kept up per request.
        self._live: set[VirtualUser] = set()
        self.iterations = 0
        self.dropped = 0
        self.connections_opened = 0

    # -- closed models --------------------------------------------------------------------
    def start_user(self, iterations: int | None = None) -> ClosedUser:
        """Start a user that loops iterations until retired, stopped or out of budget."""
        handle = ClosedUser()
        self._track(self._tasks.create_task(self._loop_user(handle, iterations)))
        return handle

    async def _loop_user(self, handle: ClosedUser, iterations: int | None) -> None:
        user = VirtualUser(self._commons)
        self.users += 1
        self._live.add(user)
        try:
            if self._script is not None:
                await self._script_iterations(self._script, user, handle, iterations)
            else:
                await self._chain_iterations(user, handle, iterations)
        finally:
            if self._script is not None:
                self._script.forget(user)
            self.users -= 1
            self._live.discard(user)
            self.connections_opened += user.connections_opened
            user.close()

    async def _chain_iterations(
        self, user: VirtualUser, handle: ClosedUser, iterations: int | None
    ) -> None:
        """Iterations back to back, each started from the last one's end, as callbacks."""
        if self.stopping or handle.retired:
            return
        request = self._single_request
        finished: asyncio.Future[None] = self._commons.loop.create_future()
        last = -1 if iterations is None else max(iterations, 1)
        done = 0

        def start() -> None:
            try:
                user.start_iteration(None, True, next_iteration)
            except DataExhausted as e:
                self._exhausted(e)
                if not finished.done():
                    finished.set_result(None)

        def next_iteration() -> None:
            nonlocal done
            done += 1
            self.iterations += 1
            if self.stopping or handle.retired or done == last:
                if not finished.done():
                    finished.set_result(None)
            elif request is not None:
                user.exchange(request, None, next_iteration)  # the hot path: one request
            else:
                start()

        if request is not None:
            user.exchange(request, None, next_iteration)
        else:
            start()
        await finished

    async def _script_iterations(
        self,
        script: ScriptedIterations,
        user: VirtualUser,
        handle: ClosedUser,
        iterations: int | None,
    ) -> None:
        done = 0
        while not (self.stopping or handle.retired) and (iterations is None or done < iterations):
            await script.iteration(user, None)
            done += 1
            self.iterations += 1
            # A flow that returns (or raises) before awaiting anything would otherwise
            # never give the loop back: no stop, no snapshot, no Ctrl-C.
            await asyncio.sleep(0)

    # -- open models ----------------------------------------------------------------------
    def start_arrival(self, t: float) -> bool:
        """Give the arrival to an idle user (or a new one, up to max users); else drop it."""
        if self.stopping:
            return False
        if self._idle:
            user = self._idle.pop()
        elif self._max_users is None or self._open_users < self._max_users:
            user = VirtualUser(self._commons)
            self._open_users += 1
            self.users += 1
            self._live.add(user)
        else:
            # Every user is busy: the arrival is counted as dropped, never silently skipped
            # and never queued (a queue would hide the wait from the latency).
            self.dropped += 1
            return False
        intended_ns = self.clock.ns_at(t)
        if self._script is not None:
            self._track(self._tasks.create_task(self._script_arrival(user, intended_ns)))
            return True
        # No task per arrival: the user's callback chain runs the iteration.
        self._busy.add(user)
        self._all_done.clear()
        on_done = partial(self._arrival_done, user)
        if self._single_request is not None:
            user.exchange(self._single_request, intended_ns, on_done)
            return True
        try:
            user.start_iteration(intended_ns, False, on_done)
        except DataExhausted as e:
            self._exhausted(e)
            self._busy.discard(user)
            self._release(user)
            self._settle()
            return False
        return True

    async def _script_arrival(self, user: VirtualUser, intended_ns: int) -> None:
        assert self._script is not None
        try:
            await self._script.iteration(user, intended_ns)
            self.iterations += 1
        finally:
            self._release(user)

    def _arrival_done(self, user: VirtualUser) -> None:
        self.iterations += 1
        self._busy.discard(user)
        self._release(user)
        self._settle()

    def _exhausted(self, error: DataExhausted) -> None:
        self.exhausted_source = error.source
        self.data_exhausted.set()

    def _settle(self) -> None:
        if not self._running and not self._busy:
            self._all_done.set()

    def _release(self, user: VirtualUser) -> None:
        if self.stopping:
            self.connections_opened += user.connections_opened
            user.connections_opened = 0
            user.close()
        self._idle.append(user)

    # -- lifecycle ------------------------------------------------------------------------
    def _track(self, task: asyncio.Task[None]) -> None:
        self._running.add(task)
        self._all_done.clear()
        task.add_done_callback(self._untrack)

    def _untrack(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._settle()

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet answered."""
        return sum(1 for user in self._live if user.busy)

    async def wait_users(self, until: float) -> None:
        """Wait for every user task to end, or run time `until`."""
        delay = until - self.clock.now()
        if delay <= 0:
            return
        try:
            async with asyncio.timeout(delay):
                await self._all_done.wait()
        except TimeoutError:
            pass

    async def drain(self, grace: float, cut_short: asyncio.Event) -> int:
        """Stop new work, wait up to `grace` s for in-flight iterations, cancel the rest.

        Returns how many iterations were cancelled. `cut_short` (Ctrl-C) ends the wait at
        once, whenever it is set.
        """
        self.stopping = True
        if (self._running or self._busy) and grace > 0 and not cut_short.is_set():
            done = asyncio.ensure_future(self._all_done.wait())
            cut = asyncio.ensure_future(cut_short.wait())
            await asyncio.wait({done, cut}, timeout=grace, return_when=asyncio.FIRST_COMPLETED)
            done.cancel()
            cut.cancel()
        interrupted = len(self._running) + len(self._busy)
        for user in list(self._busy):
            user.close()  # abandons its request, unrecorded
            self._busy.discard(user)
            self._idle.append(user)
        for task in list(self._running):
            task.cancel()
        if self._running:
            # (Bounded: a Python flow that swallows the cancellation must not hold the run.)
            await asyncio.wait(list(self._running), timeout=5.0)
        for user in self._idle:
            self.connections_opened += user.connections_opened
            user.close()
        self._idle.clear()
        return interrupted
