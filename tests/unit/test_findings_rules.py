"""Diagnosis rules on synthetic runs: thresholds of each rule, and what outranks what."""

from __future__ import annotations

from typing import Any

from loadlens.analysis.findings import diagnose
from loadlens.metrics.histogram import LatencyHistogram
from loadlens.metrics.run_result import (
    Contender,
    EndpointResult,
    LatencyStats,
    RunResult,
    ThresholdResult,
)


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
        "totals": {"requests": 1000, "rps": 125.0, "latency": stats, "service_time": stats,
                   "status_codes": {"200": 1000}},
        "endpoints": [],
        "timeline": [{"t": t, "users": 10, "rps": 125.0, "requests": 125, "failures": 0,
                      "in_flight": 10, "dropped": 0, "latency": {"p95": p95}}
                     for t in range(8)],
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
    result = _result(verdict="generator-bound", cores=0.97, p95=250.0)
    findings = diagnose(result)
    assert [f.id for f in findings] == ["generator-bound"]
    assert findings[0].severity == "critical" and "90%" in findings[0].evidence


def _with_database(result: RunResult, statements: list[dict[str, Any]]) -> RunResult:
    result.monitors["postgresql"] = {
        "kind": "postgresql", "target": "postgresql://app@db/shop", "timeline": [], "notes": [],
        "summary": {"tables": [], "statements": statements, "pg_stat_statements": True},
    }  # fmt: skip
    return result


def _statement(query: str, calls: int, mean_ms: float) -> dict[str, Any]:
    return {"query": query, "calls": calls, "mean_ms": mean_ms, "total_ms": calls * mean_ms,
            "rows": calls, "blocks_hit": 10 * calls, "blocks_read": 0}  # fmt: skip


def test_slow_statements_and_database_time_from_postgres() -> None:
    # 1000 requests of 2.5 ms mean service time: 2.5 s of requests in all.
    quick = [_statement("SELECT * FROM users WHERE id = $1", 1000, 0.2)]
    assert _ids(_with_database(_result(), quick)) == []
    # Below 5 ms of service time a request is quick whatever its parts.
    slow = [_statement("SELECT * FROM users WHERE last_login > $1", 1000, 12.0),
            _statement("SELECT 1", 1000, 0.01)]  # fmt: skip
    assert _ids(_with_database(_result(), slow)) == ["slow-statements"]
    findings = diagnose(_with_database(_result(p95=40.0), slow))
    assert [f.id for f in findings] == ["database-time-dominates", "slow-statements"]
    dominates, listed = findings
    assert dominates.severity == "medium" and "pg_stat_statements" in dominates.title
    assert "last_login" in dominates.evidence and "12.0 s in all" in dominates.evidence
    assert "1 slow statement " in listed.title and "12.0 ms mean x 1,000 calls" in listed.evidence
    assert "SELECT 1" not in listed.evidence
    # Slow requests make both high.
    assert {f.severity for f in diagnose(_with_database(_result(p95=250.0), slow))
            if f.id != "target-waiting"} == {"high"}  # fmt: skip


def test_database_time_from_server_timing_names_the_endpoint() -> None:
    result = _result(p95=40.0)
    stats = result.totals.model_dump()
    part = {"count": 1000, "total_ms": 0.0, "max_ms": 30.0}
    result.endpoints = [EndpointResult.model_validate({
        **stats, "name": "GET /orders", "method": "GET", "url": "http://t/orders",
        "server_timing": {"db": {**part, "mean_ms": 16.0, "share": 0.8},
                          "app": {**part, "mean_ms": 3.0, "share": 0.15}},
    })]  # fmt: skip
    findings = diagnose(result)
    assert [f.id for f in findings] == ["database-time-dominates"]
    assert "GET /orders (Server-Timing)" in findings[0].title
    assert (
        "db 16.0 ms" in findings[0].evidence and "other parts: app 3.0 ms" in findings[0].evidence
    )
    # A cache or app metric is not the database, however large its share.
    result.endpoints[0].server_timing = {"cache": result.endpoints[0].server_timing["db"]}
    assert _ids(result) == []


def test_a_slow_start_alone_is_not_waiting() -> None:
    """All users arriving at once make the first second slow; the rest of the run is not."""
    result = _result(p95=250.0)
    for point in result.timeline[1:]:
        point.latency["p95"] = 8.0
    assert _ids(result) == []


def test_connections_loadlens_replaced_after_timeouts_are_not_the_server_s() -> None:
    result = _result(opened=900)
    result.totals.errors = {"read-timeout": 850}
    assert _ids(result) == []
    result.totals.errors = {"http-5xx": 850}  # (answered: the connection stayed)
    assert _ids(result) == ["new-connection-per-request"]


def test_counts_the_target_keeps_itself_stand_beside_a_bound_generator() -> None:
    """Its database's scans and sessions, its memory, the connections: not loadlens's timing."""
    result = _result(verdict="generator-bound", cores=0.97, opened=900,
                     rss=[50, 60, 70, 80, 90, 100, 110, 120])  # fmt: skip
    slow = [_statement("SELECT * FROM users WHERE last_login > $1", 1000, 12.0)]
    ids = [f.id for f in diagnose(_with_database(result, slow))]
    assert ids == ["generator-bound", "memory-growth", "new-connection-per-request"]


def _timeline(result: RunResult, failures: list[int]) -> RunResult:
    for point, failed in zip(result.timeline, failures, strict=True):
        point.failures = failed
    return result


def test_a_sustained_error_rate_is_found_with_its_cause_and_quiet_below_the_limit() -> None:
    result = _timeline(_result(), [90] * 8)  # 72% of 125 each second, from the start
    result.totals.failures = 720
    result.totals.status_codes = {"200": 280, "503": 650, "429": 70}
    result.totals.errors = {"http-5xx": 650, "http-4xx": 70}
    findings = diagnose(result)
    assert [f.id for f in findings] == ["error-rate"]
    finding = findings[0]
    assert (
        finding.title == "72% of requests failed: the target sheds load (503 Service Unavailable)"
    )
    assert finding.severity == "high" and "from 0 s on" in finding.evidence
    assert "503 650 (90%), 429 70 (10%)" in finding.evidence
    assert finding.data["by_cause"] == {"503": 650, "429": 70} and finding.data["since_s"] == 0
    # 2% of requests failing is under the 5% limit...
    assert _ids(_timeline(_result(), [3] * 8)) == []
    # ...unless an error-rate threshold was crossed: its limit is the finding's.
    crossed = _timeline(_result(), [3] * 8)
    crossed.thresholds = [ThresholdResult(expression="error_rate<1%", value=0.024, ok=False)]
    assert _ids(crossed) == ["error-rate"]


def test_errors_that_only_grow_at_the_end_are_a_surge_not_a_rate() -> None:
    result = _timeline(_result(), [0, 0, 0, 0, 0, 60, 80, 90])
    result.totals.status_codes = {"200": 770, "503": 230}
    assert _ids(result) == ["error-surge"]


def test_timeouts_and_resets_are_named_as_such() -> None:
    result = _timeline(_result(), [40] * 8)
    result.totals.status_codes = {"200": 680}
    result.totals.errors = {"read-timeout": 300, "reset": 20}
    finding = diagnose(result)[0]
    assert finding.id == "error-rate" and "requests timed out" in finding.title
    assert finding.severity == "high" and finding.data["cause"] == "read-timeout"


def _queued(service_ms: float, latency_ms: float, rps: float, in_flight: int,
            fast_share: float = 0.0, cpu_cores: float = 0.05) -> RunResult:  # fmt: skip
    """A run whose requests take `service_ms` when served at once and `latency_ms` in all."""
    result = _result(cores=cpu_cores, p95=latency_ms * 1.1)
    hist = LatencyHistogram()
    total = 1000
    fast = int(total * fast_share) or 1  # the first requests found a free slot at once
    for i in range(total):
        hist.record(int((service_ms if i < fast else latency_ms) * 1e6))
    stats = {"count": total, "min": service_ms, "mean": hist.sum_ns / total / 1e6,
             "p50": latency_ms, "p95": latency_ms * 1.1, "max": latency_ms * 1.2}  # fmt: skip
    result.totals.latency = result.totals.service_time = LatencyStats.model_validate(stats)
    result.endpoints = [EndpointResult.model_validate({
        **result.totals.model_dump(), "name": "GET /report", "method": "GET",
        "url": "http://t/report", "rps": rps})]  # fmt: skip
    result.histograms = {"overall": hist.encode(), "GET /report": hist.encode()}
    for point in result.timeline:
        point.rps, point.requests, point.in_flight = rps, int(rps), in_flight
        point.latency = {"p95": latency_ms * 1.1, "p50": latency_ms}
    return result


def test_a_pool_of_four_is_named_by_littles_law_and_quiet_otherwise() -> None:
    # 40 req/s x 100 ms = 4 in service, while 32 wait about 800 ms.
    findings = diagnose(_queued(service_ms=100, latency_ms=800, rps=40, in_flight=32))
    assert [f.id for f in findings] == ["concurrency-limit"]  # (not the generic waiting)
    data = findings[0].data
    assert data["concurrency"] == 4.0 and data["service_ms"] == 100.0, data
    assert "serves about 4 requests at a time while 32 wait" in findings[0].title
    assert "CPU had room" in findings[0].evidence
    # No queue: every request served at once (latency = service time).
    assert "concurrency-limit" not in _ids(_queued(100, 105, 300, 32))
    # Many responses as fast as the fastest: the fastest is not a slot's time (a cache).
    assert "concurrency-limit" not in _ids(_queued(100, 800, 40, 32, fast_share=0.4))
    # A saturated CPU serves a fixed number at a time too: that is its own finding.
    ids = _ids(_queued(100, 800, 40, 32, cpu_cores=0.97))
    assert "concurrency-limit" not in ids and "target-cpu-saturated" in ids


def test_the_target_never_reached_outranks_everything() -> None:
    result = _result(verdict="inconclusive", cores=0.97)
    result.totals.status_codes = {}
    result.totals.errors = {"connect-timeout": 1000}
    result.endpoints = [EndpointResult.model_validate({
        **result.totals.model_dump(), "name": "GET /", "method": "GET",
        "url": "https://api.example.test/v1"})]  # fmt: skip
    findings = diagnose(result)
    assert [f.id for f in findings] == ["target-unreachable"]
    assert "every connection to api.example.test:443 timed out" in findings[0].title
    assert "firewall" in findings[0].suggestion


def test_a_contended_run_keeps_only_the_findings_read_from_counts() -> None:
    result = _result(verdict="contended", cores=0.97, opened=900)
    result.verdict_reasons = ["loadlens was late ... python (app.py) pid 4242 used 187%",
                              "the timing error was up to 40.0 ms"]  # fmt: skip
    result.generator.contenders = [Contender(name="python (app.py)", pid=4242, cpu_percent=187.0)]
    findings = diagnose(result)
    assert [f.id for f in findings] == ["contended", "new-connection-per-request"]
    assert "python (app.py), pid 4242" in findings[0].title
    assert findings[0].data["contenders"][0]["pid"] == 4242


def test_every_finding_carries_the_figures_it_quotes() -> None:
    runs = [_result(cores=0.97), _result(p95=250.0), _result(opened=900),
            _result(rss=[50, 60, 70, 80, 90, 100, 110, 120]),
            _queued(100, 800, 40, 32)]  # fmt: skip
    for run in runs:
        for finding in diagnose(run):
            assert finding.data, finding.id
    saturated = diagnose(_result(cores=0.97))[0]
    assert saturated.data["pids"] == [42] and saturated.data["cores"] == 0.97
