"""Reading the monitors' parts of a RunResult, for the findings and the reports."""

from __future__ import annotations

from typing import Any

from loadlens.metrics.run_result import RunResult

__all__ = ["DATABASE_KINDS", "database_monitor", "statements_source", "top_statements"]

# Monitors that report tables and statements: PostgreSQL's own statistics, or an app's.
DATABASE_KINDS = ("postgresql", "app-database")


def database_monitor(result: RunResult) -> dict[str, Any] | None:
    """The database monitor's part of the result, if the run had one."""
    for monitor in result.monitors.values():
        if monitor.get("kind") in DATABASE_KINDS:
            return dict(monitor)
    return None


def statements_source(result: RunResult) -> str:
    """Where the statement figures come from, in a few words."""
    database = database_monitor(result)
    if database is not None and database.get("kind") == "app-database":
        return "the app's own statistics"
    return "pg_stat_statements"


def top_statements(result: RunResult) -> list[dict[str, Any]]:
    """The database's statements during the run, by total time."""
    database = database_monitor(result)
    return list(database.get("summary", {}).get("statements", [])) if database else []
