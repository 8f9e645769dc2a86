"""Diagnosis rules on synthetic runs: thresholds of each rule, and what outranks what."""

from __future__ import annotations

from typing import Any

from loadlens.analysis.findings import diagnose
from loadlens.metrics.run_result import RunResult


def _result(verdict: str = "valid", rss: list[float] | None = None, cores: float = 0.2,
            opened: int = 10, p95: float = 5.0) -> RunResult:  # fmt: skip
    rss = rss or [50.0] * 8
    timeline = [{"t": t, "cores": cores, "cpu_percent": cores * 50, "busiest_cores": cores,
                 "busiest_pid": 42, "rss_mb": m, "tcp": {}} for t, m in enumerate(rss)]  # fmt: skip
    stats = {"count": 1000, "mean": p95 / 2, "p50": p95 / 2, "p95": p95, "max": p95 * 2}
    document: dict[str, Any] = {
        "id": "x", "name": "x", "started_at": "2026-11-28T00:00:00+00:00",
        "ended_at": "2026-11-28T00:00:08+00:00", "duration_s": 8.0, "status": "completed",
        "verdict": verdict, "verdict_reasons": ["worker 0 used >= 90% of a core"],
        "environment": {}, "load": {"executor": "constant-vus"},
        "totals": {"requests": 1000, "rps": 125.0, "latency": stats, "service_time": stats},
        "endpoints": [],
        "timeline": [{"t": t, "users": 10, "rps": 125.0, "requests": 125, "failures": 0,
                      "in_flight": 10, "dropped": 0, "latency": {}} for t in range(8)],
        "monitors": {"target": {"kind": "process", "target": "pid 42 (app; 1 process)",
                                "timeline": timeline, "notes": []}},
        "generator": {"connections_opened": opened},
    }  # fmt: skip
    return RunResult.model_validate(document)


def _ids(result: RunResult) -> list[str]:
    return [f.id for f in diagnose(result)]


def test_a_quiet_healthy_run_has_no_findings() -> None:
    assert _ids(_result()) == []


def test_each_rule_fires_on_its_own_evidence() -> None:
    assert _ids(_result(cores=0.97)) == ["target-cpu-saturated"]
    assert _ids(_result(p95=250.0)) == ["target-waiting"]
    assert _ids(_result(rss=[50, 60, 70, 80, 90, 100, 110, 120])) == ["memory-growth"]
    assert _ids(_result(opened=900)) == ["new-connection-per-request"]


def test_one_jump_or_small_growth_is_no_leak() -> None:
    assert _ids(_result(rss=[50, 50, 50, 120, 120, 120, 120, 120])) == []  # a cache filling once
    assert _ids(_result(rss=[50, 51, 52, 53, 54, 55, 56, 57])) == []  # too small to matter


def test_a_bound_generator_outranks_every_other_finding() -> None:
    result = _result(verdict="generator-bound", cores=0.97, opened=900)
    findings = diagnose(result)
    assert [f.id for f in findings] == ["generator-bound"]
    assert findings[0].severity == "critical" and "90%" in findings[0].evidence
