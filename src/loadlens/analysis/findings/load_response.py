"""How the target answered more load: a throughput ceiling, and the latency knee."""

from __future__ import annotations

import statistics
from typing import Any

from loadlens.analysis.findings.series import middle
from loadlens.metrics.run_result import Finding, RunResult
from loadlens.scenario.load import is_open_executor

__all__ = ["latency_knee", "throughput_ceiling"]

MORE_LOAD = 2.0  # the load at the end is at least this many times the load at the start
FLAT = 1.2  # ... while throughput grew by less than this factor
SLOWER = 1.5  # ... and latency by at least this factor
KNEE = 2.0  # p95 at least this many times its baseline, for two seconds in a row


def _load(point: dict[str, Any], open_model: bool) -> float:
    """How much load a second carried: users (closed models) or requests in flight."""
    return float(point["in_flight"] if open_model else point["users"])


def _quarters(result: RunResult) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
    points = [p.model_dump() for p in result.timeline]
    points = [p for p in middle(points) if p["requests"]]
    if len(points) < 8:
        return None
    quarter = len(points) // 4
    return points[:quarter], points[-quarter:]


def _is_open(result: RunResult) -> bool:
    return is_open_executor(result.load.get("executor"))


def throughput_ceiling(result: RunResult) -> Finding | None:
    """More load, the same throughput, more latency: the target is at its ceiling."""
    parts = _quarters(result)
    if parts is None:
        return None
    first, last = parts
    open_model = _is_open(result)
    load_first = statistics.fmean(_load(p, open_model) for p in first)
    load_last = statistics.fmean(_load(p, open_model) for p in last)
    rps_first = statistics.fmean(p["rps"] for p in first)
    rps_last = statistics.fmean(p["rps"] for p in last)
    p50_first = statistics.fmean(p["latency"]["p50"] for p in first)
    p50_last = statistics.fmean(p["latency"]["p50"] for p in last)
    if not (load_first > 0 and rps_first > 0 and p50_first > 0):
        return None
    if load_last < MORE_LOAD * load_first or rps_last > FLAT * rps_first:
        return None
    if p50_last < SLOWER * p50_first:
        return None
    what = "requests in flight" if open_model else "users"
    return Finding(
        id="throughput-ceiling",
        severity="high",
        title=f"Throughput stopped growing at about {rps_last:,.0f} req/s",
        evidence=(
            f"{what} went from {load_first:.0f} to {load_last:.0f} between the first and the "
            f"last quarter of the run, while throughput went from {rps_first:,.0f} to "
            f"{rps_last:,.0f} req/s and the median latency from {p50_first:.1f} to "
            f"{p50_last:.1f} ms: more load only made requests wait longer"
        ),
        suggestion=(
            "Something caps how many requests the target completes per second: a saturated "
            "CPU, a pool (database connections, worker threads) of a fixed size, or a lock "
            "that serialises them. The target's other findings say which; raising that limit "
            "(or adding instances) moves the ceiling."
        ),
        data={
            "load_start": round(load_first, 1),
            "load_end": round(load_last, 1),
            "load_unit": what,
            "throughput_start_rps": round(rps_first, 1),
            "throughput_end_rps": round(rps_last, 1),
            "p50_start_ms": round(p50_first, 3),
            "p50_end_ms": round(p50_last, 3),
        },
    )


def latency_knee(result: RunResult) -> Finding | None:
    """The load at which latency leaves its baseline, when the load varied."""
    points = [p.model_dump() for p in result.timeline]
    points = [p for p in middle(points) if p["requests"]]
    if len(points) < 8:
        return None
    open_model = _is_open(result)
    head = points[: max(2, len(points) // 5)]
    baseline = statistics.median(p["latency"]["p95"] for p in head)
    base_load = statistics.fmean(_load(p, open_model) for p in head)
    if baseline <= 0:
        return None
    for i in range(len(head), len(points) - 1):
        now, after = points[i], points[i + 1]
        if min(now["latency"]["p95"], after["latency"]["p95"]) < KNEE * baseline:
            continue
        load = _load(now, open_model)
        if load < 1.5 * base_load:
            return None  # slower at the same load: not a knee (see the other findings)
        what = "requests in flight" if open_model else "users"
        return Finding(
            id="latency-knee",
            severity="medium",
            title=f"Latency left its baseline at about {load:.0f} {what}",
            evidence=(
                f"p95 was {baseline:.1f} ms at about {base_load:.0f} {what}; from "
                f"{now['t']} s, at {load:.0f} {what} and {now['rps']:,.0f} req/s, it stayed above "
                f"{KNEE:g}x that ({now['latency']['p95']:.1f} ms)"
            ),
            suggestion=(
                f"Below about {load:.0f} {what} the target keeps its latency; above it, requests "
                "queue. Size for that load per instance, or raise the limit that sets it."
            ),
            data={
                "load": load,
                "load_unit": what,
                "baseline_p95_ms": round(baseline, 3),
                "baseline_load": round(base_load, 1),
                "from_s": now["t"],
                "p95_ms": round(now["latency"]["p95"], 3),
                "rps": round(now["rps"], 1),
            },
        )
    return None
