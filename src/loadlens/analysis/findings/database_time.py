"""Where the time goes in the database: most of each request's time (from the server's
Server-Timing header, or from PostgreSQL's statement statistics), and the statements that
took the most of it."""

from __future__ import annotations

import re
from typing import Any

from loadlens.analysis.findings.series import is_slow
from loadlens.analysis.monitor_data import database_monitor, statements_source, top_statements
from loadlens.metrics.run_result import EndpointResult, Finding, RunResult

__all__ = ["database_time_dominates", "slow_statements"]

DOMINANT_SHARE = 0.5  # of the service time
MIN_SERVICE_MS = 20.0  # below this (and not slow), a request is quick whatever its parts
MIN_RESPONSES = 50
SLOW_STATEMENT_MS = 10.0  # mean execution time
MIN_CALLS = 5
SLOW_SHARE = 0.1  # of the requests' service time, for slow statements when requests are quick
# Metric names that mean the database, as servers and APM libraries name them.
_DB_NAME = re.compile(r"^(db|database|sql|query|queries|pg|postgres\w*|mysql|sqlite|mongo\w*|"
                      r"orm)(\b|[_.-])", re.IGNORECASE)  # fmt: skip


def _from_server_timing(result: RunResult) -> Finding | None:
    worst: tuple[float, EndpointResult, str] | None = None
    slow = is_slow(result)
    for endpoint in result.endpoints:
        if endpoint.service_time.mean < MIN_SERVICE_MS and not slow:
            continue
        for name, stats in endpoint.server_timing.items():
            counted = _DB_NAME.match(name) and stats.count >= MIN_RESPONSES
            if (
                counted
                and stats.share >= DOMINANT_SHARE
                and (worst is None or stats.share > worst[0])
            ):
                worst = (stats.share, endpoint, name)
    if worst is None:
        return None
    share, endpoint, name = worst
    stats = endpoint.server_timing[name]
    others = ", ".join(f"{k} {v.mean_ms:.1f} ms" for k, v in endpoint.server_timing.items()
                       if k != name)  # fmt: skip
    evidence = (f"{endpoint.name}: the server reported {name} {stats.mean_ms:.1f} ms per "
                f"response on average (max {stats.max_ms:.1f} ms, {stats.count:,} responses), "
                f"{share:.0%} of its mean service time of "
                f"{endpoint.service_time.mean:.1f} ms")  # fmt: skip
    if others:
        evidence += f"; other parts: {others}"
    data = {"source": "server-timing", "endpoint": endpoint.name, "metric": name,
            "mean_ms": round(stats.mean_ms, 3), "max_ms": round(stats.max_ms, 3),
            "responses": stats.count, "share": round(share, 4),
            "service_ms": round(endpoint.service_time.mean, 3)}  # fmt: skip
    return _finding(result, f"{endpoint.name} (Server-Timing)", evidence, data)


def _from_postgres(result: RunResult) -> Finding | None:
    database = database_monitor(result)
    statements = top_statements(result)
    if database is None or not statements:
        return None
    statement_ms = sum(float(s["total_ms"]) for s in statements)
    service = result.totals.service_time
    request_ms = service.mean * service.count
    if (
        (service.mean < MIN_SERVICE_MS and not is_slow(result))
        or not request_ms
        or statement_ms < DOMINANT_SHARE * request_ms
    ):
        return None
    top = statements[0]
    evidence = (f"statements in {database['target']} ran {statement_ms / 1000:,.1f} s in all "
                f"while requests took {request_ms / 1000:,.1f} s of service time "
                f"({statement_ms / request_ms:.0%}); the top statement took "
                f"{float(top['total_ms']) / 1000:,.1f} s over {top['calls']:,} calls: "
                f"{top['query'][:160]}")  # fmt: skip
    data = {"source": statements_source(result), "statement_ms": round(statement_ms, 3),
            "request_ms": round(request_ms, 3), "share": round(statement_ms / request_ms, 4),
            "top_statement": top["query"][:500], "top_total_ms": float(top["total_ms"]),
            "top_calls": int(top["calls"])}  # fmt: skip
    return _finding(result, f"the run ({statements_source(result)})", evidence, data)


def _finding(result: RunResult, where: str, evidence: str, data: dict[str, Any]) -> Finding:
    return Finding(
        id="database-time-dominates",
        severity="high" if is_slow(result) else "medium",
        title=f"Most of the response time is spent in the database: {where}",
        evidence=evidence,
        suggestion=(
            "Speed up the queries before anything else: check their plans with "
            "EXPLAIN (ANALYZE, BUFFERS) for a missing index or a scan, fetch only the "
            "columns and rows needed, and cache results that many requests share."
        ),
        data=data,
    )


def database_time_dominates(result: RunResult) -> Finding | None:
    """The database takes most of each request's time."""
    return _from_server_timing(result) or _from_postgres(result)


def slow_statements(result: RunResult) -> Finding | None:
    """The statements that took the most time during the run, when they are slow."""
    slow = [
        s
        for s in top_statements(result)
        if float(s["mean_ms"]) >= SLOW_STATEMENT_MS and int(s["calls"]) >= MIN_CALLS
    ]
    service = result.totals.service_time
    request_ms = service.mean * service.count
    statement_ms = sum(float(s["total_ms"]) for s in slow)
    # Other clients share the database: its slow statements are this run's business when
    # requests were slow, or when they took a real part of the requests' time.
    if not slow or not (is_slow(result) or statement_ms >= SLOW_SHARE * request_ms):
        return None
    listed = "; ".join(
        f"{float(s['mean_ms']):.1f} ms mean x {int(s['calls']):,} calls = "
        f"{float(s['total_ms']) / 1000:,.1f} s, {int(s['rows']):,} rows: {s['query'][:120]}"
        for s in slow[:3]
    )
    return Finding(
        id="slow-statements",
        severity="high" if is_slow(result) else "medium",
        title=f"{len(slow)} slow statement{'s' if len(slow) > 1 else ''} "
        f"(over {SLOW_STATEMENT_MS:.0f} ms on average)",
        evidence=f"by total time during the run: {listed}",
        suggestion=(
            "Run EXPLAIN (ANALYZE, BUFFERS) on each with real parameters: a sequential scan "
            "wants an index on the filtered column, a large sort wants an index on the "
            "ORDER BY, many rows want a LIMIT or fewer columns."
        ),
        data={
            "statements": [
                {
                    "query": s["query"][:500],
                    "mean_ms": float(s["mean_ms"]),
                    "calls": int(s["calls"]),
                    "total_ms": float(s["total_ms"]),
                    "rows": int(s["rows"]),
                }
                for s in slow[:3]
            ],
            "count": len(slow),
        },
    )
