"""The fault matrix: every way a target can fail ends in counted, correctly classified
errors, a valid result file, no crash and no hang.

Most runs use per-vu-iterations (`-u U -i N`) so the number of attempts is exact and a
fault that fails instantly (a refused connect) cannot spin a closed loop at full CPU.
"""

from __future__ import annotations

import contextlib
import threading
import time

import psutil
import pytest

from support.cli import CliRun, LoadlensRunner, check_result
from support.target_protocol import EOF_BODY
from support.target_server import MIB, TargetServer, port_blackholed, port_refusing

pytestmark = pytest.mark.timeout(90)


def _finished_cleanly(run: CliRun) -> dict:
    """No crash (exit 0), a complete and consistent result file."""
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    assert result["status"] == "completed", run.describe()
    return result


def _nothing_answered(run: CliRun, unreachable: bool = True) -> dict:
    """No crash, a complete result, and no response at all: not a valid run (exit 98),
    with the target-unreachable finding when every connection failed."""
    assert run.returncode == 98, run.describe()
    result = check_result(run.result)
    assert result["status"] == "completed" and result["verdict"] == "inconclusive", run.describe()
    ids = [f["id"] for f in result["findings"]]
    if unreachable:
        assert ids == ["target-unreachable"], ids
    else:  # something answered, only not in HTTP: reached, yet nothing to time
        assert "target-unreachable" not in ids, ids
    return result


def _only_error(result: dict, kind: str, count: int) -> None:
    totals = result["totals"]
    assert totals["requests"] == count, totals
    assert totals["failures"] == count, totals
    assert totals["errors"] == {kind: count}, totals
    assert totals["error_rate"] == pytest.approx(1.0)


@pytest.mark.slow
def test_connection_refused(loadlens: LoadlensRunner) -> None:
    url = f"http://127.0.0.1:{port_refusing()}/ok"
    run = loadlens.run(url, "-u", "2", "-i", "5", "--connect-timeout", "1s", timeout=45)
    result = _nothing_answered(run)
    _only_error(result, "connect-refused", 10)
    assert result["totals"]["status_codes"] == {}
    assert result["totals"]["latency"]["count"] == 0
    assert run.elapsed < 20


@pytest.mark.slow
def test_connection_refused_closed_loop_is_bounded(loadlens: LoadlensRunner) -> None:
    # A duration-bound closed loop against a dead port must still stop on time.
    url = f"http://127.0.0.1:{port_refusing()}/ok"
    run = loadlens.run(url, "-u", "1", "-d", "1s", timeout=45)
    assert run.returncode == 98, run.describe()  # the target was unreachable
    result = check_result(run.result)
    assert result["verdict"] == "inconclusive", run.describe()  # never generator-bound
    totals = result["totals"]
    assert totals["requests"] > 0
    assert totals["errors"] == {"connect-refused": totals["requests"]}
    assert run.elapsed < 15


@pytest.mark.slow
def test_connect_timeout(loadlens: LoadlensRunner) -> None:
    with port_blackholed() as port:
        url = f"http://127.0.0.1:{port}/ok"
        run = loadlens.run(url, "-u", "1", "-i", "2", "--connect-timeout", "300ms",
                           "--timeout", "5s", timeout=45)  # fmt: skip
    result = _nothing_answered(run)
    _only_error(result, "connect-timeout", 2)
    assert run.elapsed < 15


@pytest.mark.slow
def test_reset_mid_response(loadlens: LoadlensRunner, target_server: TargetServer) -> None:
    run = loadlens.run(target_server.url("/reset"), "-u", "2", "-i", "5", "--timeout", "2s",
                       timeout=45)  # fmt: skip
    result = _nothing_answered(run)
    _only_error(result, "reset", 10)
    assert result["totals"]["status_codes"] == {}
    assert target_server.requests_by_path == {"/reset": 10}
    # A reset connection is never reused.
    assert target_server.connections_opened == 10


@pytest.mark.slow
def test_read_timeout_when_the_server_never_answers(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    run = loadlens.run(target_server.url("/hang"), "-u", "2", "-i", "2", "--timeout", "500ms",
                       timeout=45)  # fmt: skip
    result = _nothing_answered(run)
    _only_error(result, "read-timeout", 4)
    assert target_server.requests_by_path == {"/hang": 4}
    # The timed-out connection is abandoned (its response could still arrive later).
    assert target_server.connections_opened == 4
    # Two sequential 500 ms timeouts per user, and not much more.
    assert run.elapsed >= 1.0
    assert run.elapsed < 15


@pytest.mark.slow
def test_malformed_status_line_is_a_protocol_error(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    run = loadlens.run(target_server.url("/malformed"), "-u", "2", "-i", "3",
                       "--timeout", "5s", timeout=45)  # fmt: skip
    result = _nothing_answered(run, unreachable=False)
    _only_error(result, "protocol", 6)
    assert target_server.requests_by_path == {"/malformed": 6}
    assert target_server.connections_opened == 6
    # Detected when the garbage arrives, not after waiting for the 5 s timeout (3 x 5 s).
    assert run.elapsed < 12


class _PeakRss:
    """Samples the RSS of a process tree (the CLI and its workers) in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._me = psutil.Process()

    def _sample(self) -> None:
        while not self._stop.is_set():
            for child in self._me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    self.peak = max(self.peak, child.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.slow
def test_big_body_is_streamed_not_buffered(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    # Baseline: the peak RSS of the same CLI (and workers) for one small response.
    with _PeakRss() as baseline:
        small = loadlens.run(target_server.url("/ok"), "-u", "1", "-i", "1", timeout=45)
    assert small.returncode == 0, small.describe()
    target_server.reset_counts()
    with _PeakRss() as rss:
        run = loadlens.run(target_server.url("/big?mb=50"), "-u", "1", "-i", "3",
                           "--timeout", "20s", timeout=60)  # fmt: skip
    # Reading 150 MiB can keep the generator's core busy: a generator-bound verdict is
    # then the honest one, so both 0 and 98 are accepted; anything else is not.
    assert run.returncode in (0, 98), run.describe()
    result = check_result(run.result)
    totals = result["totals"]
    assert totals["failures"] == 0, run.describe()
    assert totals["status_codes"] == {"200": 3}
    assert totals["bytes_in"] >= 3 * 50 * MIB
    assert totals["bytes_in"] < 3 * 50 * MIB + 3 * 4096
    assert target_server.connections_opened == 1
    # No process holds a whole body: peak RSS stays under one body (50 MiB) above the
    # baseline. (Read buffers and allocator slack have reached +36 MiB on a busy VM.)
    assert rss.peak < baseline.peak + 45 * MIB, (
        f"peak RSS {rss.peak / MIB:.0f} MiB vs {baseline.peak / MIB:.0f} MiB baseline"
    )


@pytest.mark.slow
def test_connection_close_after_every_response(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    run = loadlens.run(target_server.url("/close"), "-u", "2", "-i", "10", "--timeout", "2s",
                       timeout=45)  # fmt: skip
    result = _finished_cleanly(run)
    totals = result["totals"]
    assert totals["failures"] == 0, run.describe()
    assert totals["requests"] == 20
    assert totals["status_codes"] == {"200": 20}
    assert target_server.requests_by_path == {"/close": 20}
    # A new connection for every request, since the server closes each one.
    assert 20 <= target_server.connections_opened <= 22


@pytest.mark.slow
@pytest.mark.parametrize(
    ("code", "kind"), [("503", "http-5xx"), ("500", "http-5xx"), ("429", "http-4xx")]
)
def test_error_status_storm(
    loadlens: LoadlensRunner, target_server: TargetServer, code: str, kind: str
) -> None:
    run = loadlens.run(target_server.url(f"/status?code={code}"), "-u", "2", "-i", "10",
                       timeout=45)  # fmt: skip
    result = _finished_cleanly(run)
    _only_error(result, kind, 20)
    totals = result["totals"]
    assert totals["status_codes"] == {code: 20}
    # An error status is still a complete response: it is timed.
    assert totals["latency"]["count"] == 20
    assert result["endpoints"][0]["errors"] == {kind: 20}
    assert target_server.connections_opened == 2  # keep-alive survives error statuses


@pytest.mark.slow
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_idle_keepalive_closed_by_server_reconnects_transparently(
    loadlens: LoadlensRunner, target_server: TargetServer, method: str
) -> None:
    # One user, 4 arrivals a second: the connection idles 250 ms between requests and the
    # server closes it after 100 ms idle, so every request after the first finds its
    # kept-alive connection closed by the server and must reconnect without an error.
    # The close is long noticed when the next request is due, so even a POST (never
    # retried blindly) must go out on a fresh connection.
    body = ["--json", '{"n": 1}'] if method == "POST" else []
    run = loadlens.run(
        target_server.url("/idle-close?after_ms=100"),
        "-X", method, *body,
        "--rate", "4/s", "-d", "2s", "--max-users", "1", "--timeout", "2s",
        timeout=45,
    )  # fmt: skip
    result = _finished_cleanly(run)
    totals = result["totals"]
    assert totals["errors"] == {}, run.describe()
    assert totals["requests"] == 8, run.describe()
    assert totals["dropped_iterations"] == 0
    assert target_server.requests_by_path == {"/idle-close": 8}
    assert target_server.idle_closes >= 6
    assert target_server.connections_opened >= 7
    assert target_server.requests_by_method == {method: 8}


@pytest.mark.slow
def test_body_delimited_by_the_close_is_a_complete_response(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    run = loadlens.run(target_server.url("/eof-body"), "-u", "2", "-i", "5", timeout=45)
    result = _finished_cleanly(run)
    totals = result["totals"]
    assert totals["requests"] == 10
    assert totals["failures"] == 0, totals["errors"]
    assert totals["status_codes"] == {"200": 10}
    assert totals["bytes_in"] >= 10 * len(EOF_BODY)
    assert target_server.connections_opened == 10


# Not marked slow: the fast lane keeps this one short run of the engine against a real socket.
def test_body_cut_short_by_a_clean_close_is_a_reset(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    run = loadlens.run(target_server.url("/cut-body"), "-u", "1", "-i", "4", timeout=45)
    result = _nothing_answered(run)
    _only_error(result, "reset", 4)
    assert result["totals"]["bytes_in"] > 0  # what did arrive is counted


@pytest.mark.slow
def test_read_timeouts_are_timed_so_latency_thresholds_fail(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    run = loadlens.run(target_server.url("/hang"), "-u", "1", "-i", "2", "--timeout", "300ms",
                       "--threshold", "p95<100ms", timeout=45)  # fmt: skip
    # Not valid (nothing answered) outranks the crossed threshold: 98, not 99.
    assert run.returncode == 98, run.describe()
    assert check_result(run.result)["thresholds"][0]["ok"] is False
    latency = check_result(run.result)["totals"]["latency"]
    assert latency["count"] == 2
    assert latency["min"] >= 299.0  # the timer is uvloop's, on a 1 ms clock


@pytest.mark.slow
def test_refused_everywhere_fails_latency_thresholds(loadlens: LoadlensRunner) -> None:
    url = f"http://127.0.0.1:{port_refusing()}/ok"
    run = loadlens.run(url, "-u", "1", "-i", "3", "--threshold", "p95<100ms", timeout=45)
    assert run.returncode == 98, run.describe()  # not valid outranks a crossed threshold
    result = check_result(run.result)
    assert result["verdict"] == "inconclusive"
    assert result["thresholds"][0]["ok"] is False
