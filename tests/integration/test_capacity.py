"""capacity: the stepped open model finds the highest rate a server holds within its SLO."""

from __future__ import annotations

import pytest

from support.cli import LoadlensRunner, check_result
from support.target_server import TargetServer

pytestmark = pytest.mark.timeout(90)


@pytest.mark.slow
def test_capacity_stops_at_the_first_step_that_breaks_the_slo(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    # /serial?ms=5 serves one request at a time: exactly 200 requests/s, then queues.
    run = loadlens.run(
        target_server.url("/serial?ms=5"),
        "--rate", "50/s", "--step", "50/s", "-d", "1s", "--max-steps", "10",
        "--slo-p95", "50ms", "--max-users", "400",
        timeout=60, quiet=False,
    )  # fmt: skip
    result = check_result(run.result)
    assert run.returncode in (0, 98), run.describe()
    capacity = result["capacity"]
    steps = capacity["steps"]
    assert [s["rate"] for s in steps] == [50.0 * (i + 1) for i in range(len(steps))]
    assert all(s["ok"] for s in steps[:-1]) and not steps[-1]["ok"], steps
    # The server's real capacity is 200/s: the search ends just past it, not at max steps.
    assert capacity["highest_rate_within_slo"] in (150.0, 200.0), steps
    assert steps[-1]["rate"] <= 300.0
    assert steps[-1]["p95_ms"] >= 50.0
    assert result["duration_s"] < 8
    assert target_server.requests_seen == result["totals"]["requests"]
    # Each step's throughput and requests in flight (Little's law), and the USL fitted to
    # them: a single-worker server is contention-bound, topping out near its 200/s.
    assert all(s["throughput"] > 0 and s["concurrency"] > 0 for s in steps)
    assert steps[-1]["concurrency"] > 5 * steps[0]["concurrency"]
    usl = capacity["usl"]
    assert usl["points"] == len(steps) and usl["sigma"] > 0 and usl["r_squared"] > 0.8, usl
    ceiling = usl["peak_throughput"] or usl["lam"] / usl["sigma"]
    # The model's peak from 4-6 one-second steps is an extrapolation: on this 2-core VM it
    # has come out between 254 and 419 req/s for the true 200 (the measured best is printed
    # beside it for that reason). It must still name the right order of magnitude.
    assert 150 <= ceiling <= 450, usl
    assert (
        "contention σ=" in capacity["usl_summary"]
        and "the most measured" in capacity["usl_summary"]
    )
    assert "scalability (USL)" in run.stdout


def test_capacity_flags_are_checked(loadlens: LoadlensRunner) -> None:
    run = loadlens.run("http://127.0.0.1:9/x", "--step", "50/s", timeout=20)
    assert run.returncode == 2
    assert "--step needs --rate" in run.stderr
    run = loadlens.run("http://127.0.0.1:9/x", "-u", "5", "--slo-p95", "50ms", timeout=20)
    assert run.returncode == 2
    assert "--slo-p95 applies to --step" in run.stderr
