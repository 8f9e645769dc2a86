"""Each load model, run through the CLI against a real server: do the counts add up?

The server counts every request whose headers it parsed, so a run's `totals.requests`
must equal what the server saw, neither more (invented results) nor fewer (lost ones).
Targets use a small server-side delay so the generator stays far from CPU-bound on a
2-core machine (a CPU-bound generator makes the run `generator-bound`, exit 98).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import CliRun, LoadlensRunner, check_result
from support.target_server import CHUNKED_BODY, OK_BODY, TargetServer

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]


def _server_saw(server: TargetServer, path: str, expected: int) -> int:
    """What the server counted for `path`, once it has caught up with `expected`."""
    server.wait_for(lambda s: s.requests_by_path.get(path, 0) >= expected, timeout=2)
    return server.requests_by_path.get(path, 0)


def _assert_clean(run: CliRun) -> dict:
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    assert result["status"] == "completed", run.describe()
    assert result["verdict"] == "valid", run.describe()
    assert result["totals"]["failures"] == 0, run.describe()
    return result


def _assert_counts_match(run: CliRun, server: TargetServer, path: str) -> int:
    totals = run.result["totals"]  # type: ignore[index]
    seen = _server_saw(server, path, totals["requests"])
    assert seen == totals["requests"], f"server saw {seen}" + run.describe()
    assert server.requests_seen == seen, server.requests_by_path
    return seen


@pytest.mark.timeout(60)
def test_constant_vus(loadlens: LoadlensRunner, target_server: TargetServer) -> None:
    run = loadlens.run(target_server.url("/delay?ms=5"), "-u", "3", "-d", "2s", timeout=45)
    result = _assert_clean(run)
    totals = result["totals"]
    assert result["load"]["executor"] == "constant-vus"
    assert result["load"]["users"] == 3
    n = _assert_counts_match(run, target_server, "/delay")
    # 3 users, ~5-6 ms per request, 2 s: a few hundred at least, never more than possible.
    assert 150 <= n <= 3 * 2000 / 5 + 3, run.describe()
    assert totals["status_codes"] == {"200": n}
    assert totals["iterations"] == n
    assert totals["rps"] == pytest.approx(n / 2.0, rel=0.25)
    assert totals["latency"]["p50"] >= 5.0
    assert totals["latency"]["max"] < 1000.0
    assert totals["bytes_in"] >= n * len(b'{"delayed_ms": 5}')
    assert totals["bytes_out"] >= n * len(b"GET /delay?ms=5 HTTP/1.1\r\n\r\n")
    # Keep-alive per virtual user: one connection each, not one per request.
    assert target_server.connections_opened <= 3 + 1
    assert max(row["users"] for row in result["timeline"]) == 3
    assert run.elapsed < 2 + 15


def test_per_vu_iterations_exact(loadlens: LoadlensRunner, target_server: TargetServer) -> None:
    run = loadlens.run(target_server.url("/ok"), "-u", "4", "-i", "25", timeout=45)
    result = _assert_clean(run)
    totals = result["totals"]
    assert result["load"]["executor"] == "per-vu-iterations"
    assert totals["requests"] == 100
    assert totals["iterations"] == 100
    assert _assert_counts_match(run, target_server, "/ok") == 100
    assert totals["status_codes"] == {"200": 100}
    assert totals["latency"]["count"] == 100
    # Each user (one keep-alive connection each) ran exactly its 25 iterations.
    assert target_server.requests_per_connection == [25, 25, 25, 25]
    assert totals["bytes_in"] >= 100 * len(OK_BODY)


def test_workers_split_users_exactly(loadlens: LoadlensRunner, target_server: TargetServer) -> None:
    run = loadlens.run(
        target_server.url("/delay?ms=2"), "--workers", "2", "-u", "3", "-i", "5", timeout=45
    )
    result = _assert_clean(run)
    assert result["environment"]["workers"] == 2
    assert result["totals"]["requests"] == 15
    assert result["totals"]["iterations"] == 15
    assert _assert_counts_match(run, target_server, "/delay") == 15
    # 3 users split 2 + 1 over the workers, each user keeping its own connection and
    # running exactly its 5 iterations on it.
    assert target_server.connections_opened == 3, target_server.connections_opened
    assert target_server.requests_per_connection == [5, 5, 5]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_constant_arrival_rate_sends_every_arrival(
    loadlens: LoadlensRunner, target_server: TargetServer, workers: str
) -> None:
    run = loadlens.run(
        target_server.url("/delay?ms=5"),
        "--rate", "200/s", "-d", "2s", "--max-users", "50", "--workers", workers,
        timeout=45,
    )  # fmt: skip
    result = _assert_clean(run)
    totals = result["totals"]
    assert result["load"]["executor"] == "constant-arrival-rate"
    # rate x duration arrivals, all sent since 50 users are plenty for 200/s x 5 ms.
    assert totals["dropped_iterations"] == 0
    assert totals["requests"] == 400, run.describe()
    assert totals["iterations"] == 400
    assert _assert_counts_match(run, target_server, "/delay") == 400
    assert totals["rps"] == pytest.approx(200, rel=0.15)
    assert sum(row["dropped"] for row in result["timeline"]) == 0
    # The rate holds second by second, not in bursts.
    full_seconds = [row for row in result["timeline"] if row["requests"] >= 20]
    assert len(full_seconds) >= 2
    for row in full_seconds[:2]:
        assert row["requests"] == pytest.approx(200, abs=25), result["timeline"]
    # An open model needs only as many users as are busy at once: ~1-2 here.
    assert max(row["users"] for row in result["timeline"]) <= 50


def test_ramping_arrival_rate_follows_the_integral(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    run = loadlens.run(
        target_server.url("/delay?ms=2"),
        "--rate-stages", "1s:100/s,1s:200/s", "--max-users", "50",
        timeout=45,
    )  # fmt: skip
    result = _assert_clean(run)
    totals = result["totals"]
    assert result["load"]["executor"] == "ramping-arrival-rate"
    start = float(result["load"].get("start_rate", 0.0))
    # Linear ramps: start->100 over 1 s, then 100->200 over 1 s.
    expected = (start + 100) / 2 * 1 + (100 + 200) / 2 * 1
    assert totals["dropped_iterations"] == 0
    assert totals["requests"] == pytest.approx(expected, abs=1), run.describe()
    assert _assert_counts_match(run, target_server, "/delay") == totals["requests"]
    rows = sorted(result["timeline"], key=lambda row: row["t"])
    assert len(rows) >= 2
    # The second second carries the steeper part of the ramp.
    assert rows[1]["requests"] > rows[0]["requests"], rows


def test_ramping_vus_follows_the_stages(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    run = loadlens.run(target_server.url("/delay?ms=20"), "--stages", "1s:4,1s:4,1s:0", timeout=45)
    result = _assert_clean(run)
    assert result["load"]["executor"] == "ramping-vus"
    _assert_counts_match(run, target_server, "/delay")
    rows = sorted(result["timeline"], key=lambda row: row["t"])
    users = [row["users"] for row in rows]
    assert max(users) == 4, users
    assert len(rows) >= 3, users
    # Ramp up in the first second, hold 4 in the second, ramp down in the third.
    assert users[1] == 4, users
    assert users[-1] <= 2, users
    # 4 users x 1 s / ~20 ms = ~190 requests in the held second.
    assert 100 <= rows[1]["requests"] <= 210, rows[1]
    assert rows[0]["requests"] < rows[1]["requests"], users


def test_ramp_up_starts_users_gradually(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    run = loadlens.run(
        target_server.url("/delay?ms=20"), "-u", "4", "-d", "2s", "--ramp-up", "1s", timeout=45
    )
    result = _assert_clean(run)
    _assert_counts_match(run, target_server, "/delay")
    rows = sorted(result["timeline"], key=lambda row: row["t"])
    # Fewer requests while users are still being added than once all 4 run.
    assert max(row["users"] for row in rows) == 4, rows
    assert rows[-1]["users"] == 4 or rows[-2]["users"] == 4, rows
    assert rows[0]["requests"] < rows[1]["requests"], [r["requests"] for r in rows]


def test_head_requests_expect_no_body(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    run = loadlens.run(target_server.url("/head-ok"), "-X", "HEAD", "-u", "2", "-i", "10",
                       "--timeout", "2s", timeout=45)  # fmt: skip
    result = _assert_clean(run)
    assert result["totals"]["status_codes"] == {"200": 20}
    assert result["endpoints"][0]["method"] == "HEAD"
    assert target_server.requests_by_method == {"HEAD": 20}
    # A client waiting for the advertised body would time out instead: it must be quick.
    assert result["totals"]["latency"]["max"] < 1000
    assert target_server.connections_opened == 2


def test_204_no_content(loadlens: LoadlensRunner, target_server: TargetServer) -> None:
    run = loadlens.run(target_server.url("/nocontent"), "-u", "2", "-i", "10",
                       "--timeout", "2s", timeout=45)  # fmt: skip
    result = _assert_clean(run)
    assert result["totals"]["status_codes"] == {"204": 20}
    assert _assert_counts_match(run, target_server, "/nocontent") == 20
    assert target_server.connections_opened == 2


def test_chunked_responses(loadlens: LoadlensRunner, target_server: TargetServer) -> None:
    run = loadlens.run(target_server.url("/chunked"), "-u", "2", "-i", "10",
                       "--timeout", "2s", timeout=45)  # fmt: skip
    result = _assert_clean(run)
    assert result["totals"]["status_codes"] == {"200": 20}
    assert result["totals"]["bytes_in"] >= 20 * len(CHUNKED_BODY)
    assert target_server.connections_opened == 2


def test_post_json_body_reaches_the_server(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    payload = {"name": "widget", "qty": 3, "tags": ["a", "b"]}
    run = loadlens.run(target_server.url("/echo"), "-X", "POST", "--json", json.dumps(payload),
                       "-u", "1", "-i", "3", timeout=45)  # fmt: skip
    result = _assert_clean(run)
    assert result["endpoints"][0]["method"] == "POST"
    echoes = target_server.echoes
    assert len(echoes) == 3
    for req in echoes:
        assert req.method == "POST"
        assert json.loads(bytes(req.body)) == payload
        assert (req.header("content-type") or "").startswith("application/json")
        assert int(req.header("content-length") or -1) == req.body_length
    assert result["totals"]["bytes_out"] >= 3 * echoes[0].body_length


def test_json_alone_implies_post(loadlens: LoadlensRunner, target_server: TargetServer) -> None:
    run = loadlens.run(target_server.url("/echo"), "--json", '{"a": 1}', "-u", "1", "-i", "1",
                       timeout=45)  # fmt: skip
    _assert_clean(run)
    (req,) = target_server.echoes
    assert req.method == "POST"
    assert json.loads(bytes(req.body)) == {"a": 1}


def test_body_from_file_with_put(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    body = b"line one\nline two\n" * 100
    (tmp_path / "payload.txt").write_bytes(body)
    run = loadlens.run(target_server.url("/echo"), "-X", "PUT", "--body", "@payload.txt",
                       "-H", "Content-Type: text/plain", "-u", "1", "-i", "2",
                       timeout=45)  # fmt: skip
    _assert_clean(run)
    echoes = target_server.echoes
    assert [req.method for req in echoes] == ["PUT", "PUT"]
    assert all(bytes(req.body) == body for req in echoes)
    assert echoes[0].header("content-type") == "text/plain"


def test_headers_reach_the_server(loadlens: LoadlensRunner, target_server: TargetServer) -> None:
    run = loadlens.run(
        target_server.url("/echo?q=1"),
        "-H", "X-Api-Key: s3cret",
        "-H", "Accept: text/plain",
        "-H", "X-Trace:  spaced value ",
        "-u", "1", "-i", "2",
        timeout=45,
    )  # fmt: skip
    _assert_clean(run)
    echoes = target_server.echoes
    assert len(echoes) == 2
    req = echoes[-1]
    assert req.method == "GET"
    assert req.query == {"q": "1"}
    assert req.header("x-api-key") == "s3cret"
    assert req.header("accept") == "text/plain"
    assert (req.header("x-trace") or "").strip() == "spaced value"
    assert req.header("host") in (f"127.0.0.1:{target_server.port}", "127.0.0.1")
    # A user header replaces a default one rather than sending both.
    assert [k.lower() for k, _ in req.headers].count("accept") == 1
