"""The Server-Timing header (W3C): parsed per metric, and watched for per endpoint."""

from __future__ import annotations

from array import array

import pytest

from loadlens.metrics.aggregate import EndpointInfo, RunAggregator
from loadlens.metrics.counts import Counts
from loadlens.metrics.histogram import LatencyHistogram
from loadlens.metrics.recorder import TIMING_WATCH, IntervalRecorder
from loadlens.metrics.server_timing import MAX_COMPONENTS, parse_server_timing
from loadlens.metrics.snapshot import EndpointSnapshot, Snapshot

HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n%s\r\n{}"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (b"Server-Timing: db;dur=53.2\r\n", [("db", 53.2)]),
        (b'server-timing: db;dur=53.2;desc="a, b; c", cache;desc=miss, app;dur=4.1\r\n',
         [("db", 53.2), ("app", 4.1)]),
        (b"Server-Timing: db;dur=1\r\nServer-Timing: app;dur=\"2.5\"\r\n",
         [("db", 1.0), ("app", 2.5)]),
        (b"SERVER-TIMING :db ; DUR = 7 ; dur=9\r\n", [("db", 7.0)]),  # the first dur counts
        (b"Server-Timing: db;dur=abc, x;dur=inf, y;dur=-1, z;dur=nan, ok;dur=2\r\n", [("ok", 2.0)]),
        (b"Server-Timing: miss, ,,;;\r\n", []),
        (b"Server-Timing-Extra: db;dur=5\r\n", []),
        (b"X-Server-Timing: db;dur=5\r\n", []),
        (b"", []),
    ],
)  # fmt: skip
def test_metrics_with_a_duration_are_read(
    headers: bytes, expected: list[tuple[str, float]]
) -> None:
    assert parse_server_timing(HEAD % headers) == expected


def test_a_header_like_line_in_the_body_is_not_read() -> None:
    assert parse_server_timing(HEAD % b"" + b"\r\nServer-Timing: db;dur=5\r\n") == []


def _recorder() -> IntervalRecorder:
    return IntervalRecorder(endpoints=2, t0_ns=0)


def test_an_endpoint_without_the_header_stops_being_read() -> None:
    recorder = _recorder()
    plain = HEAD % b"Server: x\r\n"
    for _ in range(TIMING_WATCH):
        recorder.record_server_timing(0, plain)
    assert recorder.timing_watch == [0, TIMING_WATCH]
    recorder.record_server_timing(1, HEAD % b"Server-Timing: db;dur=3\r\n")
    assert recorder.timing_watch[1] == -1  # read on every response from now on
    recorder.record_server_timing(1, plain)
    assert recorder.timing_watch[1] == -1


def test_metrics_are_summed_per_endpoint_and_capped_in_number() -> None:
    recorder = _recorder()
    for dur in (10.0, 30.0):
        recorder.record_server_timing(1, HEAD % b"Server-Timing: db;dur=%.1f, app;dur=1\r\n" % dur)
    many = b", ".join(b"m%d;dur=1" % i for i in range(MAX_COMPONENTS + 5))
    recorder.record_server_timing(1, HEAD % (b"Server-Timing: " + many + b"\r\n"))
    recorder.close()
    ((_, endpoints, _, _, _),) = recorder.drain()
    timing = endpoints[1].counts.server_timing
    assert timing["db"] == [2, 40.0, 30.0] and timing["app"] == [2, 2.0, 1.0]
    assert len(timing) == MAX_COMPONENTS and endpoints[0].counts.server_timing == {}


def test_interim_responses_are_skipped_and_odd_numbers_refused() -> None:
    early = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    assert parse_server_timing(early + HEAD % b"Server-Timing: db;dur=4\r\n") == [("db", 4.0)]
    assert parse_server_timing(HEAD % b"Server-Timing: db;dur=1_0, <b>;dur=2\r\n") == []
    assert parse_server_timing(HEAD % b'Server-Timing: db;dur="1_0";desc="x"\r\n') == []


def test_a_name_repeated_in_one_response_counts_once() -> None:
    recorder = _recorder()
    recorder.record_server_timing(0, HEAD % b"Server-Timing: db;dur=5, db;dur=7, app;dur=1\r\n")
    recorder.close()
    ((_, endpoints, _, _, _),) = recorder.drain()
    assert endpoints[0].counts.server_timing["db"] == [1, 12.0, 12.0]


def test_the_share_is_of_every_response_s_service_time() -> None:
    """A metric only cache misses report is a small part of the endpoint's time."""
    service = LatencyHistogram()
    service.record_many(array("q", [5_000_000] * 19 + [45_000_000]))
    part = EndpointSnapshot(Counts(requests=20, server_timing={"db": [1, 40.0, 40.0]}),
                            service_time=service.to_data())  # fmt: skip
    aggregator = RunAggregator([EndpointInfo("e", "GET", "http://x/")], workers=1)
    aggregator.add(Snapshot(worker=0, second=0, endpoints=[part]))
    db = aggregator.endpoint_results(1.0)[0].server_timing["db"]
    assert db.count == 1 and db.mean_ms == 40.0
    assert db.share == pytest.approx(40.0 / (19 * 5 + 45), rel=1e-3)  # ~29%, not 40 / 7
