"""The worker-side sink every finished request goes to, one second at a time."""

from __future__ import annotations

from array import array
from collections.abc import Callable

from loadlens.metrics.counts import Counts
from loadlens.metrics.histogram import SMALL_BATCH, LatencyHistogram, numpy_module
from loadlens.metrics.request_result import RequestResult
from loadlens.metrics.server_timing import has_server_timing, parse_server_timing
from loadlens.metrics.snapshot import EndpointSnapshot

__all__ = ["IntervalRecorder"]

_NS = 1_000_000_000
TIMING_WATCH = 100  # responses per endpoint (and worker) looked at for Server-Timing


class _EndpointInterval:
    """Raw results of one endpoint in one second; latencies wait in arrays until folded."""

    __slots__ = ("counts", "late", "latency", "statuses")

    def __init__(self) -> None:
        self.counts = Counts()
        # Responses by status code, at their index: a list element's increment costs
        # half a dict's get-and-set. (Made a dict as the second closes.)
        self.statuses = [0] * 1000
        # array.append costs ~50 ns; the batch is folded into HDR once per second. One
        # value per request: the service time is the latency less how late the request
        # started, and `late` only fills in when a request did start late (open models).
        self.latency = array("q")
        self.late = array("q")

    def note_late(self, late_ns: int) -> None:
        """The request just appended to `latency` started `late_ns` after its intended time."""
        late = self.late
        missing = len(self.latency) - 1 - len(late)
        if missing:
            late.frombytes(bytes(8 * missing))  # (zeros: the requests before were on time)
        late.append(late_ns)

    def to_snapshot(self) -> EndpointSnapshot:
        self.counts.requests = sum(self.statuses)
        self.counts.status_codes = {code: n for code, n in enumerate(self.statuses) if n and code}
        latency = LatencyHistogram()
        latency.record_many(self.latency)
        service = LatencyHistogram()
        if self.late:
            service.record_many(_less(self.latency, self.late))
        else:
            service.record_many(self.latency)
        return EndpointSnapshot(
            counts=self.counts, latency=latency.to_data(), service_time=service.to_data()
        )


def _less(values: array[int], late: array[int]) -> array[int]:
    """values[i] - late[i] (late is shorter when the last requests were on time)."""
    if len(values) <= SMALL_BATCH:
        out = array("q", (v - d for v, d in zip(values, late, strict=False)))
        out.extend(values[len(late) :])
        return out
    np = numpy_module()
    v = np.frombuffer(values, dtype=np.int64)
    less = np.zeros_like(v)
    less[: len(late)] = np.frombuffer(late, dtype=np.int64)
    return array("q", (v - less).tobytes())


class IntervalRecorder:
    """Counts each finished request into the second (since t0) in which it ended."""

    __slots__ = (
        "_boundary_ns",
        "_checks",
        "_current",
        "_endpoints",
        "_finished",
        "_second",
        "_t0_ns",
        "check_counts",
        "gauges",
        "schedule_lag",
        "timing_watch",
    )

    def __init__(
        self,
        endpoints: int,
        t0_ns: int,
        gauges: Callable[[], tuple[int, int]] = lambda: (0, 0),
        checks: int = 0,
    ) -> None:
        self._endpoints = endpoints
        self._checks = checks
        # Passes at 2i, fails at 2i + 1, for check i; per second, like the endpoints.
        self.check_counts = [0] * (2 * checks)
        # Read as each second closes: (users, in flight) at that moment.
        self.gauges = gauges
        self._t0_ns = t0_ns
        self._second = 0
        self._boundary_ns = t0_ns + _NS
        self._current = [_EndpointInterval() for _ in range(endpoints)]
        self._finished: list[
            tuple[int, list[_EndpointInterval], array[int], tuple[int, int], list[int]]
        ] = []
        self.schedule_lag = array("q")
        # Per endpoint: responses left to look at for a Server-Timing header (a server sends
        # it always or never, so after this many without it the endpoint costs nothing
        # more); -1 once it has been seen, and then every response is read.
        self.timing_watch = [TIMING_WATCH] * endpoints

    def add(self, result: RequestResult) -> None:
        """Count one finished request; timed ones enter the latency histograms."""
        end_ns = result.end_ns
        if end_ns >= self._boundary_ns:
            self.rotate(end_ns)
        interval = self._current[result.endpoint]
        counts = interval.counts
        counts.bytes_in += result.bytes_in
        counts.bytes_out += result.bytes_out
        # Every request lands in one status slot (0: no response), so the second's request
        # count is their sum, taken as it closes rather than counted per request.
        interval.statuses[result.status] += 1
        if result.timed:
            interval.latency.append(end_ns - result.intended_ns)
            if result.start_ns != result.intended_ns:
                interval.note_late(result.start_ns - result.intended_ns)
        error = result.error
        if error is not None:
            counts.failures += 1
            errors = counts.errors
            errors[error] = errors.get(error, 0) + 1

    def record_server_timing(self, endpoint: int, head: bytes) -> None:
        """Read a response's Server-Timing header, if the endpoint's server sends one."""
        watch = self.timing_watch[endpoint]
        metrics = parse_server_timing(head) if watch < 0 or has_server_timing(head) else None
        if not metrics:
            if watch > 0:
                self.timing_watch[endpoint] = watch - 1
            return
        self.timing_watch[endpoint] = -1
        counts = self._current[endpoint].counts
        if len(metrics) > 1:
            # A name repeated in one response (a metric per query) is one response's time.
            merged: dict[str, float] = {}
            for name, duration in metrics:
                merged[name] = merged.get(name, 0.0) + duration
            metrics = list(merged.items())
        for name, duration in metrics:
            counts.add_timing(name, 1, duration, duration)

    def add_endpoint(self) -> int:
        """Count a further endpoint (a Python scenario names them as it runs); its index."""
        self._endpoints += 1
        self._current.append(_EndpointInterval())
        self.timing_watch.append(TIMING_WATCH)
        return self._endpoints - 1

    def add_check(self) -> int:
        """Count a further check; its index."""
        self._checks += 1
        self.check_counts += [0, 0]
        return self._checks - 1

    def check_counts_at(self, end_ns: int) -> list[int]:
        """The check counters of the second `end_ns` falls in: passes of check i at 2i,
        fails at 2i + 1 (the caller adds to them directly: several checks per response)."""
        if end_ns >= self._boundary_ns:
            self.rotate(end_ns)
        return self.check_counts

    def record_schedule_lag(self, end_ns: int, lag_ns: int) -> None:
        """Note how late an open-model iteration started against its schedule."""
        if end_ns >= self._boundary_ns:
            self.rotate(end_ns)
        self.schedule_lag.append(lag_ns)

    def rotate(self, now_ns: int) -> None:
        """Close every second that ended before `now_ns` (empty seconds included)."""
        while now_ns >= self._boundary_ns:
            self.close()

    def close(self) -> None:
        """Close the current second (partial, if the run is over)."""
        self._finished.append(
            (self._second, self._current, self.schedule_lag, self.gauges(), self.check_counts)
        )
        self._current = [_EndpointInterval() for _ in range(self._endpoints)]
        self.schedule_lag = array("q")
        self.check_counts = [0] * (2 * self._checks)
        self._second += 1
        self._boundary_ns += _NS

    def drain(
        self,
    ) -> list[tuple[int, list[EndpointSnapshot], LatencyHistogram, tuple[int, int], list[int]]]:
        """Hand over the closed seconds (folded into histograms) with their gauges at close."""
        out = []
        for second, intervals, lag, gauges, checks in self._finished:
            lag_hist = LatencyHistogram()
            lag_hist.record_many(lag)
            out.append((second, [i.to_snapshot() for i in intervals], lag_hist, gauges, checks))
        self._finished.clear()
        return out

    @property
    def current_second(self) -> int:
        """The second now being recorded."""
        return self._second
