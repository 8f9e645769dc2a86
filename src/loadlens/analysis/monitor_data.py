"""Reading the monitors' parts of a RunResult, for the findings and the reports."""

from __future__ import annotations

from typing import Any

from loadlens.metrics.run_result import RunResult

__all__ = ["postgres_monitor", "top_statements"]


def postgres_monitor(result: RunResult) -> dict[str, Any] | None:
    """The PostgreSQL monitor's part of the result, if the run had one."""
    for monitor in result.monitors.values():
        if monitor.get("kind") == "postgresql":
            return dict(monitor)
    return None


def top_statements(result: RunResult) -> list[dict[str, Any]]:
    """The database's statements during the run, by total time (pg_stat_statements)."""
    database = postgres_monitor(result)
    return list(database.get("summary", {}).get("statements", [])) if database else []
