"""Coordinated omission: what the open models promise (DESIGN.md, "Load models").

The promise, precisely:

* Latency is measured from each iteration's *intended* start; service time from the
  actual send. Both are reported.
* With enough users, arrivals leave on schedule. A server stall then shows in *both*
  figures (the requests really were sent on time and waited at the server); the two
  differ only by what delayed a send on our side, so a small gap means a healthy
  generator. (A closed model would instead stop sending during the stall and hide it:
  that is the omission this design avoids.)
* An arrival that finds no free user is *dropped*, counted, never silently skipped nor
  quietly delayed, and a run with drops is not `valid`: its percentiles do not cover
  the dropped arrivals.

The stall test checks the measured percentiles against ground truth: the server records
how long it held each /stall request.
"""

from __future__ import annotations

import math
import time

import pytest

from support.cli import LoadlensRunner, check_result
from support.target_server import TargetServer

pytestmark = pytest.mark.slow

EVERY_S = 3.0
STALL_MS = 1000.0


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (what an HDR histogram reports, before its rounding)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@pytest.mark.timeout(60)
def test_open_model_with_enough_users_shows_a_stall_in_latency_and_service_time(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    # No stall until the run's first request reaches the server; then one full 1 s
    # stall opens 1.2 s later and the next would open at +4.2 s, after the 4 s run, so
    # no request is still held when the run ends.
    target_server.stall_origin = math.inf
    proc, out, cmd = loadlens.start(
        target_server.url(f"/stall?every={EVERY_S:g}&ms={STALL_MS:g}"),
        "--rate", "100/s", "-d", "4s", "--max-users", "500", "--timeout", "5s",
    )  # fmt: skip
    launched = time.monotonic()
    try:
        assert target_server.wait_for(lambda s: s.requests_seen > 0, timeout=20)
        target_server.stall_origin = time.monotonic() + 1.2
    finally:
        run = loadlens.finish(proc, out, cmd, launched, timeout=40)
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    totals = result["totals"]
    assert result["load"]["executor"] == "constant-arrival-rate"
    assert result["verdict"] == "valid", run.describe()
    assert totals["failures"] == 0
    assert totals["dropped_iterations"] == 0, run.describe()
    assert totals["requests"] == 400, run.describe()
    target_server.wait_for(lambda s: len(s.stall_holds) >= 400, timeout=2)
    assert target_server.requests_by_path == {"/stall": 400}

    # Ground truth from the server: how long each request was held.
    holds_ms = [h * 1000 for h in target_server.stall_holds]
    held = [h for h in holds_ms if h > 0]
    assert len(held) >= 85, f"only {len(held)} requests arrived in a stall"
    true_p99 = _percentile(holds_ms, 99)
    true_p50 = _percentile(holds_ms, 50)
    assert true_p99 > 800

    latency, service = totals["latency"], totals["service_time"]
    # The stall shows in both figures, at the size the server really held requests
    # (plus the few ms of a local round trip; minus HDR's 0.1% rounding).
    for name, stats in (("latency", latency), ("service_time", service)):
        assert stats["p99"] >= true_p99 - 20, (name, stats, true_p99)
        assert stats["p99"] <= true_p99 + 60, (name, stats, true_p99)
        assert stats["max"] >= STALL_MS * 0.9, (name, stats)
        assert stats["max"] <= STALL_MS + 100, (name, stats)
        assert stats["p50"] <= true_p50 + 30, (name, stats, true_p50)
    # Arrivals left on schedule, so the two differ only by the generator's own delays.
    assert latency["p99"] - service["p99"] < 50, (latency, service)
    assert latency["p50"] - service["p50"] < 20, (latency, service)
    # (That latency is never below service time is checked on its own, below.)
    # The timeline shows it too: some second has a p99 near the stall length.
    assert max(row["latency"]["p99"] for row in result["timeline"]) >= STALL_MS * 0.8
    # An open model keeps arriving during the stall: ~100 requests wait at once.
    assert max(row["in_flight"] for row in result["timeline"]) >= 50
    assert max(row["users"] for row in result["timeline"]) >= 50


@pytest.mark.timeout(60)
def test_too_few_users_drop_arrivals_and_the_run_says_so(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    # 2 users x ~10 requests/s each against 100 arrivals/s: most arrivals find no user.
    run = loadlens.run(
        target_server.url("/delay?ms=100"),
        "--rate", "100/s", "-d", "2s", "--max-users", "2", "--timeout", "5s",
        timeout=45,
    )  # fmt: skip
    assert run.returncode == 98, run.describe()
    result = check_result(run.result)
    totals = result["totals"]
    assert result["status"] == "completed"
    assert result["verdict"] == "generator-bound", run.describe()
    assert any("drop" in reason.lower() for reason in result["verdict_reasons"]), run.describe()
    dropped = totals["dropped_iterations"]
    sent = totals["requests"]
    assert dropped > 100, run.describe()
    assert 20 <= sent <= 60, run.describe()
    # Every arrival is accounted for: either sent or dropped, never silently skipped.
    assert sent + dropped == 200, run.describe()
    assert sum(row["dropped"] for row in result["timeline"]) == dropped
    target_server.wait_for(lambda s: s.requests_seen >= sent, timeout=2)
    assert target_server.requests_by_path == {"/delay": sent}
    # Dropped arrivals are not in the latency figures, and were not delayed into them:
    # nobody waited for a free user, so latency stays at the server's 100 ms.
    assert totals["latency"]["count"] == sent
    assert totals["latency"]["p99"] < 200, totals["latency"]
    assert max(row["users"] for row in result["timeline"]) <= 2


@pytest.mark.timeout(60)
def test_latency_from_intended_start_is_never_below_service_time(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    # Per request, latency = end - intended start and service time = end - actual send;
    # an arrival is never sent before it is due, so latency >= service time for every
    # request, hence for every percentile and for the minimum. Fast responses (well under
    # 1 ms here) make an early release show: its latency would be below its service time.
    run = loadlens.run(
        target_server.url("/ok"),
        "--rate", "200/s", "-d", "1s", "--max-users", "50",
        timeout=45,
    )  # fmt: skip
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    latency, service = result["totals"]["latency"], result["totals"]["service_time"]
    assert latency["count"] == service["count"] == 200
    assert service["min"] > 0.0
    for key in ("min", "p50", "p75", "p90", "p95", "p99", "max"):
        # 0.01 ms covers HDR bucket rounding at these values (3 significant digits).
        assert latency[key] >= service[key] - 0.01, (key, latency, service)
