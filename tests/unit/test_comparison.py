"""Before/after verdicts from per-second samples."""

from __future__ import annotations

import random
from typing import Any

from loadlens.analysis.comparison import Change, compare_runs
from loadlens.metrics.run_result import RunResult


def _run(run_id: str, latency_ms: float, rps: float, seconds: int, *, jitter: float = 0.02,
         seed: int = 1, failures: int = 0) -> RunResult:  # fmt: skip
    rng = random.Random(seed)
    timeline = []
    for t in range(seconds):
        lat = latency_ms * (1 + rng.uniform(-jitter, jitter))
        n = int(rps * (1 + rng.uniform(-jitter, jitter)))
        timeline.append({"t": t, "users": 10, "rps": float(n), "requests": n, "failures": 0,
                         "in_flight": 1, "dropped": 0,
                         "latency": {"mean": lat, "p50": lat, "p95": lat * 1.5, "p99": lat * 2,
                                     "max": lat * 3}})  # fmt: skip
    requests = sum(p["requests"] for p in timeline)
    stats = {"count": requests, "min": latency_ms / 2, "mean": latency_ms, "p50": latency_ms,
             "p75": latency_ms, "p90": latency_ms, "p95": latency_ms * 1.5,
             "p99": latency_ms * 2, "p999": latency_ms * 3, "max": latency_ms * 3}  # fmt: skip
    document: dict[str, Any] = {
        "id": run_id, "name": "r", "started_at": "2026-11-28T00:00:00+00:00",
        "ended_at": "2026-11-28T00:01:00+00:00", "duration_s": float(seconds),
        "status": "completed", "verdict": "valid", "environment": {},
        "load": {"executor": "constant-vus", "users": 10, "duration": float(seconds)},
        "totals": {"requests": requests, "failures": failures,
                   "error_rate": failures / requests, "rps": requests / seconds,
                   "latency": stats, "service_time": stats},
        "endpoints": [], "timeline": timeline,
    }  # fmt: skip
    return RunResult.model_validate(document)


def _verdicts(before: RunResult, after: RunResult) -> dict[str, Change]:
    return {m.metric: m.change for m in compare_runs(before, after).overall}


def test_noise_is_no_change_and_a_real_shift_is_a_verdict() -> None:
    base, again = _run("a", 20, 500, 20, seed=1), _run("b", 20, 500, 20, seed=2)
    assert set(_verdicts(base, again).values()) == {Change.UNCHANGED}
    slower = _run("c", 40, 250, 20, seed=3)
    verdicts = _verdicts(base, slower)
    assert verdicts["rps"] is verdicts["mean"] is verdicts["p99"] is Change.REGRESSED
    assert _verdicts(slower, base)["p95"] is Change.IMPROVED


def test_a_significant_but_tiny_change_is_no_change() -> None:
    # 1% slower with almost no jitter: significant, but below the 3% that counts.
    base = _run("a", 20, 500, 30, jitter=0.001, seed=1)
    nudged = _run("b", 20.2, 500, 30, jitter=0.001, seed=2)
    comparison = compare_runs(base, nudged)
    mean = next(m for m in comparison.overall if m.metric == "mean")
    assert mean.p_value is not None and mean.p_value < 0.01
    assert mean.change is Change.UNCHANGED


def test_short_runs_are_too_short_and_regressions_respect_the_tolerance() -> None:
    assert _verdicts(_run("a", 20, 500, 5), _run("b", 40, 500, 5))["mean"] is Change.TOO_SHORT
    comparison = compare_runs(_run("a", 20, 500, 20), _run("b", 23, 500, 20, seed=4))
    assert any(m.metric == "mean" for _, m in comparison.regressions(10.0))
    assert not any(m.metric == "mean" for _, m in comparison.regressions(20.0))


def test_error_rates_use_the_request_counts() -> None:
    base = _run("a", 20, 500, 20, failures=10)
    worse = _run("b", 20, 500, 20, seed=2, failures=200)
    assert _verdicts(base, worse)["error_rate"] is Change.REGRESSED
