"""A run as CSV files: the summary, one row per endpoint, and the per-second timeline."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from loadlens.metrics.run_result import LatencyStats, RunResult, Totals
from loadlens.private_files import write_private

__all__ = ["write_csv"]

_STATS = ("min", "mean", "p50", "p75", "p90", "p95", "p99", "p999", "max")


def _totals_row(totals: Totals) -> dict[str, Any]:
    row: dict[str, Any] = {
        "requests": totals.requests, "failures": totals.failures,
        "error_rate": round(totals.error_rate, 6), "rps": round(totals.rps, 3),
        "bytes_in": totals.bytes_in, "bytes_out": totals.bytes_out,
    }  # fmt: skip
    latency: LatencyStats = totals.latency
    for stat in _STATS:
        row[f"latency_{stat}_ms"] = round(getattr(latency, stat), 3)
    return row


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A text cell as a spreadsheet will not run it (a quote first); numbers as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _text(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV: every text cell quoted (a tab, CR, LF or quote in it stays inside
    the cell), numbers bare."""
    out = io.StringIO(newline="")
    fields = list(dict.fromkeys(k for row in rows for k in row)) or ["empty"]
    writer = csv.DictWriter(out, fieldnames=fields, quoting=csv.QUOTE_NONNUMERIC)
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    return out.getvalue()


def write_csv(result: RunResult, directory: Path) -> list[Path]:
    """Write summary.csv, endpoints.csv and timeline.csv (0600, never through a link) into
    `directory`; their paths."""
    totals = result.totals
    summary = {
        "run_id": result.id, "name": result.name, "started_at": result.started_at,
        "duration_s": round(result.duration_s, 3), "status": str(result.status),
        "verdict": str(result.verdict), "executor": str(result.load.get("executor", "")),
        "iterations": totals.iterations, "dropped_iterations": totals.dropped_iterations,
        "checks_passed": totals.checks_passed, "checks_failed": totals.checks_failed,
        **_totals_row(totals),
        "thresholds_ok": str(all(t.ok for t in result.thresholds)) if result.thresholds else "",
    }  # fmt: skip
    endpoints = [
        {"name": e.name, "method": e.method, "url": e.url, **_totals_row(e),
         **{f"status_{k}": v for k, v in e.status_codes.items()},
         **{f"error_{k}": v for k, v in e.errors.items()}}
        for e in result.endpoints
    ]  # fmt: skip
    generator = {g.t: g for g in result.generator.timeline}
    timeline = [
        {"t": p.t, "users": p.users, "rps": round(p.rps, 3), "requests": p.requests,
         "failures": p.failures, "in_flight": p.in_flight, "dropped": p.dropped,
         **{f"latency_{k}_ms": round(v, 3) for k, v in p.latency.items()},
         "service_time_p99_ms": round(p.service_time_p99, 3),
         "generator_cpu_percent": g.cpu_percent if (g := generator.get(p.t)) else ""}
        for p in result.timeline
    ]  # fmt: skip
    paths = [directory / "summary.csv", directory / "endpoints.csv", directory / "timeline.csv"]
    for path, rows in zip(paths, ([summary], endpoints, timeline), strict=True):
        write_private(path, _text(rows))
    return paths
