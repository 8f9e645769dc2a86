"""RunContext on fake transports and a virtual clock: users, arrivals, iterations, drain.

The server here is a responder on the FakeNetworkLoop that answers every request after a
fixed virtual delay, so "how many iterations by t" has one right answer.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from loadlens.engine.clock import VirtualClock
from loadlens.engine.prepared_request import PreparedFlow, PreparedStep, prepare
from loadlens.engine.run_context import RunContext
from loadlens.engine.virtual_user import UserCommons
from loadlens.metrics.recorder import IntervalRecorder
from loadlens.metrics.request_result import RequestResult
from loadlens.scenario.model import RequestSpec
from support.fake_transport import FakeNetworkLoop, run

pytestmark = pytest.mark.timeout(10)  # a broken chain must fail fast, not hang the run

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class KeepingRecorder(IntervalRecorder):
    """The real recorder, also keeping a copy of each result it is handed."""

    def __init__(self, endpoints: int) -> None:
        super().__init__(endpoints, time.monotonic_ns())
        self.results: list[RequestResult] = []

    def add(self, result: RequestResult) -> None:
        self.results.append(result.copy())
        super().add(result)


def commons_for(loop: FakeNetworkLoop, steps: int = 1) -> UserCommons:
    """One flow of `steps` GETs without pauses (one step: the engine's single-request path)."""
    specs = [RequestSpec(name=f"step {i}", url=f"http://api.test/{i}") for i in range(steps)]
    prepared = prepare(tuple(specs), timeout=10.0, resolve=False)
    flow = PreparedFlow("flow", 1.0, tuple(PreparedStep(r, None) for r in prepared), None)
    return UserCommons(loop, [flow], KeepingRecorder(steps), None, 5.0)


def results(commons: UserCommons) -> list[RequestResult]:
    recorder = commons.recorder
    assert isinstance(recorder, KeepingRecorder)
    return recorder.results


def answer_every_request(loop: FakeNetworkLoop, after: float) -> None:
    loop.responder = lambda _request: OK
    loop.reply_delay = after


@pytest.mark.parametrize("steps", [1, 2], ids=["single-request", "two-step-flow"])
def test_closed_users_run_their_iterations_on_one_connection_each(steps: int) -> None:
    async def main(loop: FakeNetworkLoop) -> tuple[RunContext, UserCommons]:
        answer_every_request(loop, after=0.01)
        commons = commons_for(loop, steps)
        async with asyncio.TaskGroup() as tasks:
            ctx = RunContext(VirtualClock(), 0, 1, commons, tasks, None)
            ctx.start_user(iterations=3)
            ctx.start_user(iterations=2)
            await loop.wait_idle()
            assert ctx.users == 2 and ctx.in_flight == 2
        assert loop.time() == pytest.approx(1000.0 + 3 * steps * 0.01)
        assert all(t.aborted for t in loop.transports)  # closed as each user ended
        return ctx, commons

    ctx, commons = run(main)
    assert ctx.iterations == 5 and ctx.users == 0 and ctx.in_flight == 0
    assert ctx.connections_opened == 2
    assert [r.status for r in results(commons)] == [200] * 5 * steps


def test_stopping_ends_a_closed_user_after_its_current_iteration() -> None:
    async def main(loop: FakeNetworkLoop) -> RunContext:
        answer_every_request(loop, after=0.01)
        async with asyncio.TaskGroup() as tasks:
            ctx = RunContext(VirtualClock(), 0, 1, commons_for(loop), tasks, None)
            ctx.start_user()  # no iteration budget: until stopped
            await loop.sleep(0.095)
            assert (ctx.iterations, ctx.in_flight) == (9, 1)
            ctx.stopping = True
        assert loop.time() == pytest.approx(1000.1)  # the tenth finished, no eleventh began
        [server] = loop.transports
        assert len(server.writes) == 10
        return ctx

    ctx = run(main)
    assert ctx.iterations == 10 and ctx.users == 0


def test_a_retired_user_finishes_its_iteration_and_the_others_go_on() -> None:
    async def main(loop: FakeNetworkLoop) -> RunContext:
        answer_every_request(loop, after=0.01)
        async with asyncio.TaskGroup() as tasks:
            ctx = RunContext(VirtualClock(), 0, 1, commons_for(loop), tasks, None)
            leaving = ctx.start_user()
            ctx.start_user(iterations=6)
            await loop.sleep(0.025)
            leaving.retire()
        return ctx

    ctx = run(main)
    assert ctx.iterations == 3 + 6


def test_drain_waits_its_grace_then_abandons_what_is_still_in_flight() -> None:
    async def main(loop: FakeNetworkLoop) -> None:
        commons = commons_for(loop)  # and no responder: the server never answers
        async with asyncio.TaskGroup() as tasks:
            ctx = RunContext(VirtualClock(), 0, 1, commons, tasks, None)
            ctx.start_user()
            await loop.wait_idle()
            started = loop.time()
            interrupted = await ctx.drain(2.0, asyncio.Event())
            assert loop.time() == started + 2.0  # (shorter than the 10 s request timeout)
        assert interrupted == 1 and ctx.iterations == 0 and ctx.users == 0
        assert ctx.in_flight == 0 and ctx.connections_opened == 1
        [server] = loop.transports
        assert server.aborted
        await loop.sleep(60.0)  # past the request timeout: still nothing recorded
        assert results(commons) == []

    run(main)


def test_drain_ends_at_once_when_cut_short() -> None:
    async def main(loop: FakeNetworkLoop) -> None:
        async with asyncio.TaskGroup() as tasks:
            ctx = RunContext(VirtualClock(), 0, 1, commons_for(loop), tasks, None)
            ctx.start_user()
            await loop.wait_idle()
            cut = asyncio.Event()
            loop.call_later(0.5, cut.set)  # Ctrl-C, half a second in
            started = loop.time()
            assert await ctx.drain(30.0, cut) == 1
            assert loop.time() == started + 0.5

    run(main)


def test_arrivals_beyond_max_users_are_dropped_and_idle_users_reused() -> None:
    async def main(loop: FakeNetworkLoop) -> tuple[RunContext, UserCommons]:
        answer_every_request(loop, after=0.05)
        commons = commons_for(loop)
        clock = VirtualClock()
        async with asyncio.TaskGroup() as tasks:
            ctx = RunContext(clock, 0, 1, commons, tasks, max_users=1)
            assert ctx.start_arrival(0.0)
            assert not ctx.start_arrival(0.01)  # the one user is busy: dropped, not queued
            await loop.sleep(0.1)
            assert ctx.iterations == 1
            assert ctx.start_arrival(0.1)  # the idle user takes it
            await loop.sleep(0.1)
            assert await ctx.drain(1.0, asyncio.Event()) == 0
            ctx.stopping = True
            assert not ctx.start_arrival(0.3)
        [first, second] = results(commons)
        assert (first.intended_ns, second.intended_ns) == (clock.ns_at(0.0), clock.ns_at(0.1))
        return ctx, commons

    ctx, _ = run(main)
    assert (ctx.users, ctx.dropped, ctx.iterations) == (1, 1, 2)
    assert ctx.connections_opened == 1  # one user, one keep-alive connection


def test_drain_abandons_an_arrival_in_flight() -> None:
    async def main(loop: FakeNetworkLoop) -> None:
        commons = commons_for(loop, steps=2)  # no responder
        async with asyncio.TaskGroup() as tasks:
            ctx = RunContext(VirtualClock(), 0, 1, commons, tasks, max_users=None)
            assert ctx.start_arrival(0.0)
            await loop.wait_idle()
            assert ctx.in_flight == 1
            assert await ctx.drain(1.0, asyncio.Event()) == 1
        assert ctx.in_flight == 0 and ctx.iterations == 0 and results(commons) == []
        assert all(t.aborted for t in loop.transports)

    run(main)


@pytest.mark.parametrize(
    ("flags", "big"),
    [
        ({"users": 1, "iterations": 1}, False),  # a smoke run: its few values fold inline
        ({"users": 50, "iterations": 40}, False),  # 2,000 requests at most
        ({"users": 50, "iterations": 41}, True),
        ({"users": 1, "duration": "1s"}, True),  # a timed run may hold any number a second
        ({"rate": "10/s", "duration": "1s"}, True),
    ],
)
def test_numpy_is_loaded_before_the_start_when_a_second_can_hold_a_big_batch(
    flags: dict[str, object], big: bool
) -> None:
    from loadlens.engine.coordinator import may_fold_big_batches
    from loadlens.engine.prepared_request import prepare_flows
    from loadlens.scenario.from_flags import RunFlags, scenario_from_flags

    scenario = scenario_from_flags(RunFlags(target="http://127.0.0.1:9/", **flags))  # type: ignore[arg-type]
    assert may_fold_big_batches(scenario, prepare_flows(scenario, resolve=False)) is big
