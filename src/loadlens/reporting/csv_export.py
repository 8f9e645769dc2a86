"""A run as CSV files: the summary, one row per endpoint, and the per-second timeline."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from loadlens.metrics.run_result import LatencyStats, RunResult, Totals

__all__ = ["write_csv"]

_STATS = ("min", "mean", "p50", "p75", "p90", "p95", "p99", "p999", "max")


def _totals_row(totals: Totals) -> dict[str, Any]:
    row: dict[str, Any] = {
        "requests": totals.requests, "failures": totals.failures,
        "error_rate": f"{totals.error_rate:.6f}", "rps": f"{totals.rps:.3f}",
        "bytes_in": totals.bytes_in, "bytes_out": totals.bytes_out,
    }  # fmt: skip
    latency: LatencyStats = totals.latency
    for stat in _STATS:
        row[f"latency_{stat}_ms"] = f"{getattr(latency, stat):.3f}"
    return row


def _cell(text: str) -> str:
    """A name as a spreadsheet will not run it: `=`, `+`, `-` or `@` first starts a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        fields = list(dict.fromkeys(k for row in rows for k in row)) or ["empty"]
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def write_csv(result: RunResult, directory: Path) -> list[Path]:
    """Write summary.csv, endpoints.csv and timeline.csv into `directory`; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    totals = result.totals
    summary = {
        "run_id": result.id, "name": _cell(result.name), "started_at": result.started_at,
        "duration_s": f"{result.duration_s:.3f}", "status": str(result.status),
        "verdict": str(result.verdict), "executor": result.load.get("executor"),
        "iterations": totals.iterations, "dropped_iterations": totals.dropped_iterations,
        "checks_passed": totals.checks_passed, "checks_failed": totals.checks_failed,
        **_totals_row(totals),
        "thresholds_ok": all(t.ok for t in result.thresholds) if result.thresholds else "",
    }  # fmt: skip
    endpoints = [
        {"name": _cell(e.name), "method": e.method, "url": _cell(e.url), **_totals_row(e),
         **{f"status_{k}": v for k, v in e.status_codes.items()},
         **{f"error_{k}": v for k, v in e.errors.items()}}
        for e in result.endpoints
    ]  # fmt: skip
    generator = {g.t: g for g in result.generator.timeline}
    timeline = [
        {"t": p.t, "users": p.users, "rps": f"{p.rps:.3f}", "requests": p.requests,
         "failures": p.failures, "in_flight": p.in_flight, "dropped": p.dropped,
         **{f"latency_{k}_ms": f"{v:.3f}" for k, v in p.latency.items()},
         "service_time_p99_ms": f"{p.service_time_p99:.3f}",
         "generator_cpu_percent": g.cpu_percent if (g := generator.get(p.t)) else ""}
        for p in result.timeline
    ]  # fmt: skip
    paths = [directory / "summary.csv", directory / "endpoints.csv", directory / "timeline.csv"]
    for path, rows in zip(paths, ([summary], endpoints, timeline), strict=True):
        _write(path, rows)
    return paths
