"""`--monitor dbstats+http://HOST:PORT/PATH`: the database statistics an app counts itself.

For a database no monitor can watch from outside (SQLite is a library inside the app), or
one loadlens has no probe for, the app can count its own statements and serve them as JSON,
cumulative since it started:

    {"sessions": 120,                         # database connections opened
     "statements": [{"query": "SELECT ... WHERE last_login >= ?", "calls": 50,
                     "total_ms": 812.5, "rows": 1000}],
     "tables": [{"table": "users", "seq_scans": 50, "rows_read_by_seq": 15000000,
                 "idx_scans": 0, "live_rows": 300000}]}

Each second gives new sessions, calls and database time; over the run, the same deltas by
table and statement as the PostgreSQL monitor, so the same findings read them (a full table
scan with its column, slow statements, a connection per request). `loadlens demo` serves
its API's this way (`loadlens.demo.query_stats`). Serve it beside the app, not behind the
same worker queue: an app saturated by the load would answer its statistics late too.
"""

from __future__ import annotations

import json
from typing import Any

from loadlens.monitoring.endpoint_reader import ReadLimits, read_endpoint
from loadlens.monitoring.probe import ProbeGone

__all__ = ["DbStatsProbe"]


class DbStatsProbe:
    """One app's statistics endpoint."""

    name = "database"
    kind = "app-database"

    def __init__(self, spec: str, limits: ReadLimits | None = None) -> None:
        self.url = spec.removeprefix("dbstats+")
        self.target = f"{self.url} (the app's own statistics)"
        self._limits = limits or ReadLimits()
        self._first: dict[str, Any] = {}
        self._last: dict[str, Any] = {}

    def _read(self) -> dict[str, Any]:
        answer = read_endpoint(self.url, limits=self._limits)
        if answer.status != 200:
            raise ProbeGone(f"unreachable (HTTP {answer.status})")
        try:
            document = json.loads(answer.body)
        except ValueError as e:
            raise ProbeGone(f"not JSON ({e})") from None
        if not isinstance(document, dict) or "sessions" not in document:
            raise ProbeGone("not a statistics document (no `sessions`)")
        return document

    def start(self) -> None:
        """The counters at the start: everything after is the run's."""
        self._first = self._last = self._read()
        if self._first.get("database"):
            self.target = f"{self._first['database']} (the app's own statistics)"

    def sample(self) -> dict[str, Any]:
        """New sessions, statements and database time in the last second."""
        now = self._read()
        calls = _calls(now) - _calls(self._last)
        time_ms = _time(now) - _time(self._last)
        out = {
            "sessions_per_s": int(now["sessions"]) - int(self._last["sessions"]),
            "statements_per_s": calls,
            "db_ms_per_s": round(time_ms, 3),
        }
        self._last = now
        return out

    def summary(self) -> dict[str, Any]:
        """Over the run: full scans per table, and the statements that took the most time."""
        now = self._read()
        before_tables = {t["table"]: t for t in self._first.get("tables", [])}
        tables = []
        for table in now.get("tables", []):
            b = before_tables.get(table["table"], {})
            seq = int(table["seq_scans"]) - int(b.get("seq_scans", 0))
            idx = int(table["idx_scans"]) - int(b.get("idx_scans", 0))
            if seq or idx:
                tables.append({"table": table["table"], "seq_scans": seq, "idx_scans": idx,
                               "rows_read_by_seq": int(table["rows_read_by_seq"])
                               - int(b.get("rows_read_by_seq", 0)),
                               "live_rows": int(table.get("live_rows", 0))})  # fmt: skip
        tables.sort(key=lambda t: -int(t["rows_read_by_seq"]))
        before = {s["query"]: s for s in self._first.get("statements", [])}
        statements: list[dict[str, Any]] = []
        for statement in now.get("statements", []):
            b = before.get(statement["query"], {})
            calls = int(statement["calls"]) - int(b.get("calls", 0))
            if calls > 0:
                total = float(statement["total_ms"]) - float(b.get("total_ms", 0.0))
                statements.append({"query": " ".join(str(statement["query"]).split())[:500],
                                   "calls": calls, "total_ms": round(total, 2),
                                   "rows": int(statement["rows"]) - int(b.get("rows", 0)),
                                   "mean_ms": round(total / calls, 3)})  # fmt: skip
        statements.sort(key=lambda s: -float(s["total_ms"]))
        return {"tables": tables[:20], "statements": statements[:10]}

    def stop(self) -> None:
        """Nothing to release."""


def _calls(document: dict[str, Any]) -> int:
    return sum(int(s["calls"]) for s in document.get("statements", []))


def _time(document: dict[str, Any]) -> float:
    statements: list[dict[str, Any]] = document.get("statements", [])
    return sum(float(s["total_ms"]) for s in statements)
