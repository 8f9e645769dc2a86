"""A virtual user: keep-alive connections and the requests of its iterations.

The request cycle is a chain of callbacks (send, response, record, next send) rather than
a coroutine awaiting a future per request: the same semantics for a fraction of the CPU,
which is what lets one worker drive tens of thousands of requests a second. Coroutine
front-end `iteration` runs a flow (steps, think time, pacing) on top of it.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import ssl
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from loadlens.engine.http_connection import HttpConnection, open_connection
from loadlens.engine.prepared_request import Endpoint, PreparedFlow
from loadlens.engine.request_errors import ErrorKind, RequestFailed
from loadlens.metrics.recorder import IntervalRecorder

__all__ = ["UserSettings", "VirtualUser"]

_monotonic_ns = time.monotonic_ns  # one global lookup instead of two per call
_choose = random.choices
_uniform = random.uniform
_HTTP_ERROR = (ErrorKind.HTTP_4XX, ErrorKind.HTTP_5XX)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class UserSettings:
    """What every user of a worker shares: endpoints, TLS, timeouts, the recorder."""

    __slots__ = (
        "connect_timeout",
        "cum_weights",
        "endpoints",
        "flows",
        "in_flight",
        "loop",
        "recorder",
        "ssl_context",
        "timeout",
        "variables",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        flows: list[PreparedFlow],
        recorder: IntervalRecorder,
        ssl_context: ssl.SSLContext | None,
        timeout: float,
        connect_timeout: float,
        variables: dict[str, Any] | None = None,
    ) -> None:
        self.loop = loop
        self.variables = variables or {}
        self.flows = flows
        self.cum_weights = list(itertools.accumulate(f.weight for f in flows))
        self.endpoints = [step.endpoint for flow in flows for step in flow.steps]
        self.recorder = recorder
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.in_flight = 0


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class VirtualUser:
    """One simulated user: at most one request in flight, one connection per origin."""

    __slots__ = (
        "_connecting",
        "_conns",
        "_endpoint",
        "_intended_ns",
        "_on_done",
        "_on_response_cb",
        "_payload",
        "_retried",
        "_settings",
        "_start_ns",
        "connections_opened",
        "variables",
    )

    def __init__(self, settings: UserSettings) -> None:
        self._settings = settings
        origins = 1 + max(e.origin for e in settings.endpoints)
        self._conns: list[HttpConnection | None] = [None] * origins
        self._connecting: asyncio.Task[HttpConnection] | None = None
        self._endpoint = settings.endpoints[0]
        self._intended_ns = 0
        self._start_ns = 0
        self._retried = False
        self._on_done: Callable[[], None] | None = None
        self._on_response_cb = self._on_response  # bound once, not per request
        self._payload = b""
        self.connections_opened = 0
        self.variables: dict[str, Any] = dict(settings.variables)  # this user's own copy

    # -- coroutine front-ends -------------------------------------------------------------
    async def iteration(self, intended_ns: int | None = None, *, paced: bool = False) -> None:
        """One flow (picked by weight), step by step; `intended_ns`: the schedule's start.

        For an open model the first request's latency runs from the intended start, not
        from when we got round to sending it (wrk2's coordinated-omission fix); its service
        time runs from the actual start. Later requests in the iteration start when the
        previous one (and its think time) ended, so for them both clocks agree. `paced`
        (closed models) holds the iteration until the flow's pacing period is over.
        """
        settings = self._settings
        flows = settings.flows
        flow = flows[0] if len(flows) == 1 else _choose(flows, cum_weights=settings.cum_weights)[0]
        loop = settings.loop
        started = loop.time()
        for step in flow.steps:
            done: asyncio.Future[None] = loop.create_future()
            self.exchange(step.endpoint, intended_ns, partial(_resolve, done))
            await done
            intended_ns = None
            if step.think is not None:
                low, high = step.think
                await asyncio.sleep(low if high <= low else _uniform(low, high))
        if paced and flow.pacing is not None:
            await asyncio.sleep(max(0.0, started + flow.pacing - loop.time()))

    # -- the request cycle ----------------------------------------------------------------
    def exchange(
        self, endpoint: Endpoint, intended_ns: int | None, on_done: Callable[[], None]
    ) -> None:
        """Send `endpoint`'s request now; record it and call `on_done()` when it ends."""
        settings = self._settings
        start_ns = _monotonic_ns()
        if intended_ns is None:
            intended_ns = start_ns
        else:
            # Every open-model start is sampled (on time counts as 0), so the lag's
            # percentiles describe all arrivals, not just the late ones.
            if intended_ns > start_ns:
                intended_ns = start_ns  # released a little early: time from the real start
            settings.recorder.record_schedule_lag(start_ns, start_ns - intended_ns)
        self._endpoint = endpoint
        # Templated requests are rendered now, with this user's variables; others are bytes.
        self._payload = (
            endpoint.payload if endpoint.render is None else endpoint.render(self.variables)
        )
        self._intended_ns = intended_ns
        self._start_ns = start_ns
        self._retried = False
        self._on_done = on_done
        settings.in_flight += 1
        self._send()

    def _send(self) -> None:
        endpoint = self._endpoint
        conn = self._conns[endpoint.origin]
        if conn is None or conn.closed:
            self.connections_opened += 1
            settings = self._settings
            self._connecting = task = settings.loop.create_task(
                open_connection(
                    settings.loop,
                    endpoint.addresses,
                    endpoint.port,
                    ssl_context=settings.ssl_context if endpoint.tls else None,
                    server_hostname=endpoint.server_hostname,
                    timeout=settings.connect_timeout,
                    request_timeout=settings.timeout,
                )
            )
            task.add_done_callback(self._on_connected)
            return
        conn.send(self._payload, endpoint.is_head, self._on_response_cb, endpoint.timeout)

    def _on_connected(self, task: asyncio.Task[HttpConnection]) -> None:
        self._connecting = None
        if task.cancelled() or self._on_done is None:
            if not task.cancelled() and task.exception() is None:
                task.result().close()  # the user was closed while it connected
            return
        error = task.exception()
        if error is not None:
            failure = (
                error
                if isinstance(error, RequestFailed)
                else RequestFailed(ErrorKind.CONNECT_ERROR, repr(error))
            )
            self._record(failure.kind, 0, 0, 0, timed=False)
            return
        conn = task.result()
        endpoint = self._endpoint
        self._conns[endpoint.origin] = conn
        conn.send(self._payload, endpoint.is_head, self._on_response_cb, endpoint.timeout)

    def _on_response(
        self, conn: HttpConnection, status: int, failure: RequestFailed | None
    ) -> None:
        endpoint = self._endpoint
        if failure is not None:
            conn.close()
            if self._conns[endpoint.origin] is conn:
                self._conns[endpoint.origin] = None
            # A reused keep-alive connection closed by the server as we sent: nothing
            # reached the application, so one retry on a fresh connection is what every
            # HTTP client does (for idempotent methods).
            if not self._retried and failure.retryable and endpoint.method in _IDEMPOTENT:
                self._retried = True
                self._send()
                return
            # A read timeout is timed (its true latency is at least this long, and leaving
            # it out would flatter the tail); other failures are not.
            self._record(
                failure.kind, 0, conn.bytes_in, len(self._payload),
                timed=failure.kind is ErrorKind.READ_TIMEOUT,
            )  # fmt: skip
            return
        if not conn.keep_alive:
            self._conns[endpoint.origin] = None
            conn.close()
        self._record(
            None if status < 400 else _HTTP_ERROR[status >= 500],
            status, conn.bytes_in, len(self._payload), timed=True,
        )  # fmt: skip

    def _record(
        self, error: ErrorKind | None, status: int, bytes_in: int, bytes_out: int, *, timed: bool
    ) -> None:
        end_ns = _monotonic_ns()
        settings = self._settings
        settings.recorder.record(
            self._endpoint.index,
            status,
            end_ns,
            end_ns - self._intended_ns,
            end_ns - self._start_ns,
            bytes_in,
            bytes_out,
            error,
            timed,
        )
        settings.in_flight -= 1
        on_done = self._on_done
        self._on_done = None
        if on_done is not None:
            on_done()

    def close(self) -> None:
        """Abandon any request in flight (unrecorded) and drop the connections."""
        if self._on_done is not None:
            self._on_done = None
            self._settings.in_flight -= 1
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        for i, conn in enumerate(self._conns):
            if conn is not None:
                conn.detach()
                conn.close()
                self._conns[i] = None
