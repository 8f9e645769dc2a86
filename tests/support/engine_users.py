"""The engine's own virtual users on a real event loop and real sockets, in the test's
process: what a worker does, without the coordinator's processes around it.

Each user runs its one request in a closed loop (as `loadlens run -u N` does), for a set
number of requests, or else for as long as the run lasts (the time given, and until every
counted user is done), with an optional pause between requests. All users share one
uvloop loop, as a worker's do, so a user whose target misbehaves shows in the latencies
of the others if it stalls the loop. Every result is kept, user by user.
"""

from __future__ import annotations

import asyncio
import ssl
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

import uvloop

from loadlens.engine.prepared_request import PreparedFlow, PreparedStep, prepare
from loadlens.engine.virtual_user import UserCommons, VirtualUser
from loadlens.metrics.recorder import IntervalRecorder
from loadlens.metrics.request_result import RequestResult
from loadlens.scenario.model import DEFAULT_MAX_BODY, RequestSpec

__all__ = ["UserPlan", "UserResults", "run_users"]


@dataclass(frozen=True)
class UserPlan:
    """One user: its request, how many times (None: as long as the run lasts), the pause
    between two of them."""

    request: RequestSpec
    requests: int | None = None
    pause: float = 0.0


@dataclass
class UserResults:
    """What one user's requests came to, in order."""

    results: list[RequestResult] = field(default_factory=list)
    connections_opened: int = 0

    @property
    def outcomes(self) -> dict[str, int]:
        """How many requests ended each way: an ErrorKind's value, or `ok`."""
        return dict(Counter(str(r.error) if r.error else "ok" for r in self.results))

    @property
    def statuses(self) -> list[int]:
        """Each request's status (0: no response)."""
        return [r.status for r in self.results]

    @property
    def p50_ms(self) -> float:
        """The median latency of the timed requests, milliseconds."""
        return statistics.median(r.latency_ns for r in self.results if r.timed) / 1e6


def run_users(
    *plans: UserPlan,
    seconds: float = 1.0,
    timeout: float = 2.0,
    connect_timeout: float = 1.0,
    max_body: int = DEFAULT_MAX_BODY,
    ssl_context: ssl.SSLContext | None = None,
) -> list[UserResults]:
    """Run one user per plan at once, and return each user's results.

    Users without a count of requests start none after `seconds`, nor after the counted
    users are all done; requests in flight end within `timeout`.
    """
    loop = uvloop.new_event_loop()
    try:
        return loop.run_until_complete(
            _run(loop, plans, seconds, timeout, connect_timeout, max_body, ssl_context)
        )
    finally:
        loop.close()


async def _run(
    loop: asyncio.AbstractEventLoop,
    plans: tuple[UserPlan, ...],
    seconds: float,
    timeout: float,
    connect_timeout: float,
    max_body: int,
    ssl_context: ssl.SSLContext | None,
) -> list[UserResults]:
    checks = list(dict.fromkeys(c.name for plan in plans for c in plan.request.checks))
    requests = prepare(
        tuple(plan.request for plan in plans),
        timeout=timeout,
        check_index={name: i for i, name in enumerate(checks)},
    )
    recorder = IntervalRecorder(1 + max(r.index for r in requests), time.monotonic_ns(),
                                checks=len(checks))  # fmt: skip
    run = _Run(loop.time() + seconds, sum(plan.requests is not None for plan in plans))
    outcomes: list[UserResults] = []
    waits: list[asyncio.Future[None]] = []
    users: list[VirtualUser] = []
    for plan, request in zip(plans, requests, strict=True):
        flow = PreparedFlow(request.name, 1.0, (PreparedStep(request, None),), None)
        commons = UserCommons(loop, [flow], recorder, ssl_context, connect_timeout,
                              max_body=max_body)  # fmt: skip
        user = VirtualUser(commons)
        users.append(user)
        kept = UserResults()
        outcomes.append(kept)
        finished: asyncio.Future[None] = loop.create_future()
        waits.append(finished)
        _next(loop, user, plan, kept, run, finished)
    try:
        await asyncio.wait_for(asyncio.gather(*waits), 30.0)
    finally:
        for user, kept in zip(users, outcomes, strict=True):
            kept.connections_opened = user.connections_opened
            user.close()
    return outcomes


@dataclass
class _Run:
    """How long the users without a count go on."""

    deadline: float
    counted_left: int  # users with a count of requests not yet done


def _next(
    loop: asyncio.AbstractEventLoop,
    user: VirtualUser,
    plan: UserPlan,
    kept: UserResults,
    run: _Run,
    finished: asyncio.Future[None],
) -> None:
    """Send the user's next request, or end it: its count is done, or the run is over."""
    if plan.requests is not None:
        if len(kept.results) >= plan.requests:
            run.counted_left -= 1
            finished.set_result(None)
            return
    elif loop.time() >= run.deadline and not run.counted_left:
        finished.set_result(None)
        return
    request = user._flow.steps[0].request

    def ended() -> None:
        kept.results.append(user.result.copy())  # (the user refills one record)
        if plan.pause:
            loop.call_later(plan.pause, _next, loop, user, plan, kept, run, finished)
        else:
            _next(loop, user, plan, kept, run, finished)

    user.exchange(request, None, ended)
