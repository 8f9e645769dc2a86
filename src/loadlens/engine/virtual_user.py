"""A virtual user: the flow machine (steps, think time, pacing) over its request cycle.

Flows chain on callbacks and timers like the requests under them: no task, future or
coroutine per step.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from loadlens.engine.prepared_request import PreparedFlow
from loadlens.engine.request_cycle import RequestCycle, UserCommons

__all__ = ["UserCommons", "VirtualUser"]

_choose = random.choices
_uniform = random.uniform


class VirtualUser(RequestCycle):
    """One simulated user: runs flows of steps, one request at a time."""

    __slots__ = (
        "_flow",
        "_flow_failed",
        "_iteration_started",
        "_on_iteration_done",
        "_paced",
        "_step",
        "_step_done_cb",
        "_then",
        "_timer",
        "started",
    )

    def __init__(self, commons: UserCommons) -> None:
        super().__init__(commons)
        # (A Python scenario has no flows of steps.)
        self._flow: PreparedFlow = commons.flows[0] if commons.flows else None  # type: ignore[assignment]
        self._step = 0
        self._paced = False
        self._iteration_started = 0.0
        self._on_iteration_done: Callable[[], None] | None = None
        self._step_done_cb = self._step_done
        self._timer: asyncio.TimerHandle | None = None  # think time or pacing
        self.started = False  # its on_start steps have succeeded
        self._flow_failed = False  # a step of the running flow failed
        self._then: tuple[PreparedFlow, bool, Callable[[], None]] | None = None

    def start_iteration(
        self, intended_ns: int | None, paced: bool, on_done: Callable[[], None]
    ) -> None:
        """Run one flow (picked by weight) step by step; call `on_done()` after it.

        `intended_ns` is the schedule's start: for an open model the first request's
        latency runs from there, not from when we got round to sending it (wrk2's
        coordinated-omission fix); its service time runs from the actual start. Later
        requests start when the previous one (and its think time) ended, so for them both
        clocks agree. `paced` (closed models) holds the iteration until the flow's pacing
        period is over. Raises DataExhausted (before sending anything) when a data feeder
        set to stop has run out.
        """
        commons = self._commons
        for feeder in commons.feeders:
            feeder.fill(self.variables)
        flows = commons.flows
        flow = flows[0] if len(flows) == 1 else _choose(flows, cum_weights=commons.cum_weights)[0]
        if commons.on_start is not None and not self.started:
            # The user's on_start steps come first (a login), until they succeed once.
            self._then = (flow, paced, on_done)
            self._run_flow(commons.on_start, intended_ns, False, self._on_start_done)
        else:
            self._run_flow(flow, intended_ns, paced, on_done)

    def _run_flow(
        self,
        flow: PreparedFlow,
        intended_ns: int | None,
        paced: bool,
        on_done: Callable[[], None],
        *,
        after_start: bool = False,
    ) -> None:
        self._flow = flow
        self._step = 0
        self._paced = paced
        self._flow_failed = False
        if not after_start and ((paced and flow.pacing is not None) or self._then is not None):
            # (For on_start, the pacing of the flow that waits behind it: the iteration's
            # period runs from before the login, so `after_start` keeps it.)
            self._iteration_started = self._commons.loop.time()
        self._on_iteration_done = on_done
        self.exchange(flow.steps[0].request, intended_ns, self._step_done_cb)

    def _on_start_done(self) -> None:
        assert self._then is not None
        flow, paced, on_done = self._then
        self._then = None
        if self._flow_failed:
            # No session to go on with (a refused login): the iteration ends, after the
            # flow's pacing, and the next one tries on_start again.
            self._flow = flow
            self._paced = paced
            self._on_iteration_done = on_done
            self._end_iteration()
            return
        self.started = True
        self._run_flow(flow, None, paced, on_done, after_start=True)

    def _step_done(self) -> None:
        if self.result.error is not None:
            self._flow_failed = True
        step = self._flow.steps[self._step]
        if self.extract_failed:
            # Later steps would send a value this one failed to get: end the iteration
            # (the step is already counted as failed).
            self._end_iteration()
        elif step.think is not None:
            low, high = step.think
            delay = low if high <= low else _uniform(low, high)
            self._timer = self._commons.loop.call_later(delay, self._next_step)
        else:
            self._next_step()

    def _next_step(self) -> None:
        self._timer = None
        self._step += 1
        steps = self._flow.steps
        if self._step < len(steps):
            self.exchange(steps[self._step].request, None, self._step_done_cb)
        else:
            self._end_iteration()

    def _end_iteration(self) -> None:
        pacing = self._flow.pacing
        if self._paced and pacing is not None:
            loop = self._commons.loop
            wait = self._iteration_started + pacing - loop.time()
            if wait > 0:
                self._timer = loop.call_later(wait, self._iteration_done)
                return
        self._iteration_done()

    def _iteration_done(self) -> None:
        self._timer = None
        on_done = self._on_iteration_done
        self._on_iteration_done = None
        if on_done is not None:
            on_done()

    def close(self) -> None:
        """Abandon any request in flight (unrecorded) or pause, and drop the connections."""
        self._on_iteration_done = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._then = None
        super().close()
