"""A virtual user: keep-alive connections and the requests of its iterations.

The request cycle is a chain of callbacks (send, response, record, next send) rather than
a coroutine awaiting a future per request: the same semantics for a fraction of the CPU,
which is what lets one worker drive tens of thousands of requests a second. Flows (steps,
think time, pacing) chain the same way, on callbacks and timers.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import ssl
import time
from collections.abc import Callable
from typing import Any

from loadlens.engine.cookie_jar import CookieJar
from loadlens.engine.data_feeder import Feeder
from loadlens.engine.http_connection import HttpConnection, open_connection
from loadlens.engine.prepared_request import Endpoint, PreparedFlow
from loadlens.engine.request_errors import ErrorKind, RequestFailed
from loadlens.engine.response_capture import ResponseCapture
from loadlens.engine.response_rules import StepRules
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
        "capture_all",
        "connect_timeout",
        "cookies",
        "cum_weights",
        "endpoints",
        "feeders",
        "flows",
        "in_flight",
        "loop",
        "on_start",
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
        *,
        cookies: bool = False,
        feeders: list[Feeder] | None = None,
        capture_all: bool = False,
        on_start: PreparedFlow | None = None,
    ) -> None:
        self.loop = loop
        self.on_start = on_start  # steps each user runs once, before its first iteration
        self.capture_all = capture_all  # a Python scenario reads every response
        self.variables = variables or {}
        self.cookies = cookies
        self.feeders = feeders or []
        self.flows = flows
        self.cum_weights = list(itertools.accumulate(f.weight for f in flows))
        self.endpoints = [
            step.endpoint for flow in [*flows, *([on_start] if on_start else [])]
            for step in flow.steps
        ]  # fmt: skip
        self.recorder = recorder
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.in_flight = 0


class VirtualUser:
    """One simulated user: at most one request in flight, one connection per origin."""

    __slots__ = (
        "_capture",
        "_capture_head",
        "_capturing",
        "_connecting",
        "_conns",
        "_endpoint",
        "_flow",
        "_flow_failed",
        "_intended_ns",
        "_iteration_started",
        "_on_done",
        "_on_iteration_done",
        "_on_response_cb",
        "_paced",
        "_payload",
        "_retried",
        "_settings",
        "_start_ns",
        "_step",
        "_step_done_cb",
        "_then",
        "_timer",
        "connections_opened",
        "cookies",
        "extract_failed",
        "last_error",
        "last_latency_ns",
        "last_status",
        "started",
        "variables",
    )

    def __init__(self, settings: UserSettings) -> None:
        self._settings = settings
        origins = 1 + max((e.origin for e in settings.endpoints), default=0)
        self._conns: list[HttpConnection | None] = [None] * origins
        self._connecting: asyncio.Task[HttpConnection] | None = None
        # (A Python scenario has no flows of steps: set by its first request.)
        self._endpoint: Endpoint = settings.endpoints[0] if settings.endpoints else None  # type: ignore[assignment]
        self._intended_ns = 0
        self._start_ns = 0
        self._retried = False
        self._on_done: Callable[[], None] | None = None
        self._on_response_cb = self._on_response  # bound once, not per request
        self._payload = b""
        self.connections_opened = 0
        self.variables: dict[str, Any] = dict(settings.variables)  # this user's own copy
        self.cookies = CookieJar() if settings.cookies else None
        # Only steps that read their response (and every step, with a cookie jar) capture.
        reads = (
            settings.cookies
            or settings.capture_all
            or any(e.reads_response for e in settings.endpoints)
        )
        self._capture = ResponseCapture(keep_body=True) if reads else None
        # Head only: the connection feeds it the raw head and keeps its fast parsers.
        self._capture_head = ResponseCapture(keep_body=False) if reads else None
        self._capturing: ResponseCapture | None = None
        self.extract_failed = False  # the last step's extraction did not happen
        self._flow: PreparedFlow = settings.flows[0] if settings.flows else None  # type: ignore[assignment]
        self._step = 0
        self._paced = False
        self._iteration_started = 0.0
        self._on_iteration_done: Callable[[], None] | None = None
        self._step_done_cb = self._step_done
        self._timer: asyncio.TimerHandle | None = None  # think time or pacing
        self.started = False  # its on_start steps have succeeded
        self._flow_failed = False  # a step of the running flow failed
        self._then: tuple[PreparedFlow, bool, Callable[[], None]] | None = None
        # How the last request ended, for a Python scenario's Response.
        self.last_status = 0
        self.last_error: ErrorKind | None = None
        self.last_latency_ns = 0

    # -- iterations -------------------------------------------------------------------------
    def start_iteration(
        self, intended_ns: int | None, paced: bool, on_done: Callable[[], None]
    ) -> None:
        """Run one flow (picked by weight) step by step; call `on_done()` after it.

        `intended_ns` is the schedule's start: for an open model the first request's
        latency runs from there, not from when we got round to sending it (wrk2's
        coordinated-omission fix); its service time runs from the actual start. Later
        requests start when the previous one (and its think time) ended, so for them both
        clocks agree. `paced` (closed models) holds the iteration until the flow's pacing
        period is over. Steps chain through callbacks and timers, with no task, future or
        coroutine per step. Raises DataExhausted (before sending anything) when a data
        feeder set to stop has run out.
        """
        settings = self._settings
        for feeder in settings.feeders:
            feeder.fill(self.variables)
        flows = settings.flows
        flow = flows[0] if len(flows) == 1 else _choose(flows, cum_weights=settings.cum_weights)[0]
        if settings.on_start is not None and not self.started:
            # The user's on_start steps come first (a login), until they succeed once.
            self._then = (flow, paced, on_done)
            self._run_flow(settings.on_start, intended_ns, False, self._on_start_done)
        else:
            self._run_flow(flow, intended_ns, paced, on_done)

    def _run_flow(
        self, flow: PreparedFlow, intended_ns: int | None, paced: bool, on_done: Callable[[], None]
    ) -> None:
        self._flow = flow
        self._step = 0
        self._paced = paced
        self._flow_failed = False
        if (paced and flow.pacing is not None) or self._then is not None:
            # (For on_start, the pacing of the flow that waits behind it.)
            self._iteration_started = self._settings.loop.time()
        self._on_iteration_done = on_done
        self.exchange(flow.steps[0].endpoint, intended_ns, self._step_done_cb)

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
        self._run_flow(flow, None, paced, on_done)

    def _step_done(self) -> None:
        step = self._flow.steps[self._step]
        if self.extract_failed:
            # Later steps would send a value this one failed to get: end the iteration
            # (the step is already counted as failed).
            self._end_iteration()
        elif step.think is not None:
            low, high = step.think
            delay = low if high <= low else _uniform(low, high)
            self._timer = self._settings.loop.call_later(delay, self._next_step)
        else:
            self._next_step()

    def _next_step(self) -> None:
        self._timer = None
        self._step += 1
        steps = self._flow.steps
        if self._step < len(steps):
            self.exchange(steps[self._step].endpoint, None, self._step_done_cb)
        else:
            self._end_iteration()

    def _end_iteration(self) -> None:
        pacing = self._flow.pacing
        if self._paced and pacing is not None:
            loop = self._settings.loop
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

    # -- the request cycle ----------------------------------------------------------------
    def exchange(
        self,
        endpoint: Endpoint,
        intended_ns: int | None,
        on_done: Callable[[], None],
        payload: bytes | None = None,
    ) -> None:
        """Send `endpoint`'s request now; record it and call `on_done()` when it ends.

        `payload`: bytes to send instead of the endpoint's own (a Python scenario's).
        """
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
        if payload is None:
            payload = (
                endpoint.payload if endpoint.render is None else endpoint.render(self.variables)
            )
        if self.cookies is not None:
            line = self.cookies.header(endpoint.origin)
            if line:
                at = payload.find(b"\r\n\r\n") + 2  # the end of the last header line
                # A Cookie header the step sets itself wins over the jar (one, not two).
                if payload.find(b"\r\nCookie:", 0, at) < 0:
                    payload = payload[:at] + line + payload[at:]
        self._payload = payload
        if self._capture is not None and (
            self.cookies is not None or endpoint.reads_response or self._settings.capture_all
        ):
            keep_body = endpoint.keep_body or self._settings.capture_all
            self._capturing = self._capture if keep_body else self._capture_head
        else:
            self._capturing = None
        self.extract_failed = False
        self._intended_ns = intended_ns
        self._start_ns = start_ns
        self._retried = False
        self._on_done = on_done
        settings.in_flight += 1
        conn = self._conns[endpoint.origin]
        if conn is None or conn.closed:
            self._send()  # connects first
        else:
            conn.send(payload, endpoint.is_head, self._on_response_cb, endpoint.timeout,
                      self._capturing)  # fmt: skip

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
        conn.send(
            self._payload, endpoint.is_head, self._on_response_cb, endpoint.timeout, self._capturing
        )

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
            self._no_response()
            self._record(failure.kind, 0, 0, 0, timed=False)
            return
        conn = task.result()
        endpoint = self._endpoint
        self._conns[endpoint.origin] = conn
        conn.send(
            self._payload, endpoint.is_head, self._on_response_cb, endpoint.timeout, self._capturing
        )

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
            self._no_response()
            self._record(
                failure.kind, 0, conn.bytes_in, len(self._payload),
                timed=failure.kind is ErrorKind.READ_TIMEOUT,
            )  # fmt: skip
            return
        if not conn.keep_alive:
            self._conns[endpoint.origin] = None
            conn.close()
        error = None if status < 400 else _HTTP_ERROR[status >= 500]
        recorder = self._settings.recorder
        if recorder.timing_watch[endpoint.index]:
            recorder.record_server_timing(endpoint.index, conn.head)
        rules = endpoint.rules
        capture = self._capturing
        if capture is None and rules is None:
            self._record(error, status, conn.bytes_in, len(self._payload), timed=True)
            return
        # The response is in: stop the clock before looking inside it.
        end_ns = _monotonic_ns()
        if capture is not None and self.cookies is not None and capture.sets_cookies:
            self.cookies.update(endpoint.origin, capture.all_headers(b"set-cookie"))
        if rules is not None:
            try:
                error = self._judge(rules, capture, status, end_ns - self._intended_ns, error,
                                    end_ns)  # fmt: skip
            except Exception:
                # Never out of a protocol callback: that would strand the user mid-request.
                self.extract_failed = bool(rules.extractions)
                error = ErrorKind.CHECK_FAILED
        self._record(error, status, conn.bytes_in, len(self._payload), timed=True, end_ns=end_ns)

    def _judge(
        self,
        rules: StepRules,
        capture: ResponseCapture | None,
        status: int,
        latency_ns: int,
        error: ErrorKind | None,
        end_ns: int,
    ) -> ErrorKind | None:
        """Run the step's extractions and checks; the request's error kind, if any."""
        if rules.judges_status:
            error = None
        if rules.extractions:
            assert capture is not None
            variables = self.variables
            for extraction in rules.extractions:
                if not extraction.apply(capture, variables):
                    self.extract_failed = True
            if self.extract_failed and error is None:
                error = ErrorKind.EXTRACT_FAILED
        failed = False
        if rules.checks:
            counts = self._settings.recorder.check_counts_at(end_ns)
            variables = self.variables
            for check in rules.checks:
                if check.test(capture, status, latency_ns, variables):
                    counts[check.slot] += 1
                else:
                    counts[check.slot + 1] += 1
                    failed = True
        # A check is the user's own word on what a good response is: it names the failure.
        return ErrorKind.CHECK_FAILED if failed else error

    def _no_response(self) -> None:
        """No response came: extraction cannot happen and every check of the step failed."""
        rules = self._endpoint.rules
        if rules is None:
            return
        self.extract_failed = bool(rules.extractions)
        counts = self._settings.recorder.check_counts_at(_monotonic_ns())
        for check in rules.checks:
            counts[check.slot + 1] += 1

    def _record(
        self,
        error: ErrorKind | None,
        status: int,
        bytes_in: int,
        bytes_out: int,
        *,
        timed: bool,
        end_ns: int = 0,
    ) -> None:
        end_ns = end_ns or _monotonic_ns()
        self.last_status = status
        self.last_error = error
        if error is not None:
            self._flow_failed = True
        self.last_latency_ns = end_ns - self._intended_ns
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

    @property
    def busy(self) -> bool:
        """A request is in flight."""
        return self._on_done is not None

    def ensure_origin(self, origin: int) -> None:
        """Make room for a connection to `origin` (a Python scenario finds them as it runs)."""
        if origin >= len(self._conns):
            self._conns.extend([None] * (origin + 1 - len(self._conns)))

    @property
    def capture(self) -> ResponseCapture | None:
        """The last response's head and body, when they were kept."""
        return self._capturing

    def close(self) -> None:
        """Abandon any request in flight (unrecorded) or pause, and drop the connections."""
        self._on_iteration_done = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._then = None
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
