"""Worker seconds merge into one timeline and exact totals."""

from __future__ import annotations

from array import array

import pytest

from loadlens.metrics.aggregate import EndpointInfo, RunAggregator
from loadlens.metrics.counts import Counts
from loadlens.metrics.histogram import SMALL_BATCH, LatencyHistogram
from loadlens.metrics.recorder import IntervalRecorder
from loadlens.metrics.request_result import ErrorKind, RequestResult
from loadlens.metrics.snapshot import EndpointSnapshot, HealthSample, Snapshot

S = 1_000_000_000


def _snapshot(worker: int, second: int, latencies_ms: list[float], errors: int = 0) -> Snapshot:
    h = LatencyHistogram()
    h.record_many(array("q", [int(ms * 1e6) for ms in latencies_ms]))
    ep = EndpointSnapshot(
        Counts(
            requests=len(latencies_ms) + errors,
            failures=errors,
            bytes_in=100 * len(latencies_ms),
            status_codes={200: len(latencies_ms)},
            errors={"reset": errors} if errors else {},
        ),
        latency=h.to_data(),
        service_time=h.to_data(),
    )
    return Snapshot(
        worker=worker,
        second=second,
        endpoints=[ep],
        users=5,
        in_flight=1,
        health=HealthSample(cpu_percent=50.0 + worker),
    )


def test_a_second_is_merged_only_when_every_worker_reported_it() -> None:
    agg = RunAggregator([EndpointInfo("GET /", "GET", "http://x/")], workers=2)
    assert agg.add(_snapshot(0, 0, [10, 20])) == []
    assert agg.add(_snapshot(0, 1, [10])) == []
    done = agg.add(_snapshot(1, 0, [30, 40], errors=1))
    assert [p.t for p in done] == [0]
    assert done[0].requests == 5
    assert done[0].users == 10
    assert done[0].latency["max"] == 40
    # worker 1 finishes without second 1: second 1 completes with worker 0's part alone.
    assert [p.t for p in agg.worker_done(1)] == [1]
    totals = agg.totals(duration_s=2.0)
    assert totals.requests == 6
    assert totals.failures == 1
    assert totals.errors == {"reset": 1}
    assert totals.status_codes == {"200": 5}
    assert totals.latency.mean == pytest.approx((10 + 20 + 30 + 40 + 10) / 5)
    assert totals.rps == 3.0
    assert [g.cpu_percent_by_worker for g in agg.generator] == [[50.0, 51.0], [50.0]]


def test_recorder_puts_each_request_in_the_second_it_ended() -> None:
    rec = IntervalRecorder(endpoints=1, t0_ns=0, gauges=lambda: (3, 1))
    rec.add(RequestResult(0, 200, None, 95, 95, 100, 10, 10))
    rec.add(RequestResult(0, 500, ErrorKind.HTTP_5XX, S - 6, S - 6, S + 1, 10, 10))
    rec.add(RequestResult(0, 0, ErrorKind.RESET, 3 * S - 4, 3 * S - 4, 3 * S + 5, 0, 10,
                          timed=False))  # fmt: skip
    rec.add(RequestResult(0, 0, ErrorKind.READ_TIMEOUT, 3 * S - 4, 3 * S - 4, 3 * S + 6, 0, 10))
    rec.close()
    seconds = rec.drain()
    assert [s for s, *_ in seconds] == [0, 1, 2, 3]
    counts = [eps[0].counts.requests for _, eps, *_ in seconds]
    assert counts == [1, 1, 0, 2]
    last = seconds[3][1][0].counts
    assert last.errors == {"reset": 1, "read-timeout": 1}
    assert last.status_codes == {}
    # A reset has no latency; a timeout is timed (at least that long).
    latency = seconds[3][1][0].latency
    assert latency is not None and latency.count == 1
    assert seconds[0][3] == (3, 1)


def test_named_endpoints_and_checks_merge_by_name_whatever_each_worker_numbered_them() -> None:
    # A Python scenario: workers meet endpoints and checks in their own order.
    agg = RunAggregator([], workers=2)
    a, b = _snapshot(0, 0, [1.0]), _snapshot(1, 0, [2.0, 3.0])
    a.endpoints.append(_snapshot(0, 0, [4.0]).endpoints[0])
    a.endpoint_names = [("login", "POST", "u/login"), ("list", "GET", "u/items")]
    a.check_names, a.checks = ["ok", "fast"], [3, 1, 2, 0]
    b.endpoint_names = [("list", "GET", "u/items")]
    b.check_names, b.checks = ["fast"], [5, 5]
    b.script_errors = {"f.py:3: KeyError: 'x'": 2}
    agg.add(a)
    agg.add(b)
    results = {e.name: e for e in agg.endpoint_results(1.0)}
    assert [e.name for e in agg.endpoint_results(1.0)] == ["login", "list"]
    assert results["login"].requests == 1
    assert results["list"].requests == 3 and results["list"].latency.max == pytest.approx(4.0, 0.01)
    assert [c.model_dump() for c in agg.checks()] == [
        {"name": "ok", "passes": 3, "fails": 1},
        {"name": "fast", "passes": 7, "fails": 5},
    ]
    assert agg.totals(1.0).checks_passed == 10 and agg.totals(1.0).checks_failed == 6
    assert agg.script_errors == {"f.py:3: KeyError: 'x'": 2}


def test_service_time_leaves_out_a_late_start_and_latency_keeps_it() -> None:
    # An open model: the second request started 4 ms after its intended time.
    ms = 1_000_000
    rec = IntervalRecorder(endpoints=1, t0_ns=0)
    rec.add(RequestResult(0, 200, None, 0, 0, 10 * ms))
    rec.add(RequestResult(0, 200, None, 20 * ms, 24 * ms, 34 * ms))
    rec.add(RequestResult(0, 200, None, 40 * ms, 40 * ms, 45 * ms))
    rec.close()
    [(_, [part], *_)] = rec.drain()
    assert part.latency is not None and part.service_time is not None
    assert (part.latency.sum_ns, part.latency.max_ns) == (10 * ms + 14 * ms + 5 * ms, 14 * ms)
    assert (part.service_time.sum_ns, part.service_time.max_ns) == (
        10 * ms + 10 * ms + 5 * ms,
        10 * ms,
    )


def test_service_time_of_a_big_second_matches_a_small_one() -> None:
    # More requests than SMALL_BATCH take the vectorised road; the figures are the same.
    ms = 1_000_000
    n = SMALL_BATCH + 5
    rec = IntervalRecorder(endpoints=1, t0_ns=0)
    for i in range(n):
        late = ms if i % 3 == 0 else 0
        rec.add(RequestResult(0, 200, None, i, i + late, i + late + 2 * ms))
    rec.close()
    [(_, [part], *_)] = rec.drain()
    assert part.latency is not None and part.service_time is not None
    late_count = len(range(0, n, 3))
    assert part.latency.sum_ns == n * 2 * ms + late_count * ms
    assert part.service_time.sum_ns == n * 2 * ms
    assert part.service_time.count == part.latency.count == n
