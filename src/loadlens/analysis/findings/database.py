"""The database side (from `--monitor postgresql://...`): full table scans, and a new
database connection per request."""

from __future__ import annotations

import re
from typing import Any

from loadlens.analysis.findings.series import middle
from loadlens.analysis.monitor_data import database_monitor
from loadlens.metrics.run_result import Finding, RunResult

__all__ = ["db_connection_per_request", "full_table_scan"]

MIN_SCANS = 10
MIN_ROWS_PER_SCAN = 1000
CONNECTION_SHARE = 0.5  # new sessions per request, at least


def _column(table: str, statements: list[dict[str, Any]]) -> tuple[str, str] | None:
    """The column a statement on `table` filters by, and that statement."""
    relname = table.rsplit(".", 1)[-1]
    pattern = re.compile(
        rf"\bfrom\s+(?:\w+\.)?{re.escape(relname)}\b.*?"
        r"\bwhere\s+(?:\w+\.)?(\w+)\s*(>=|<=|<>|!=|=|>|<|in\b|like\b|between\b)",
        re.IGNORECASE | re.DOTALL,
    )
    for statement in statements:
        match = pattern.search(statement["query"])
        if match:
            return match.group(1), statement["query"]
    return None


def full_table_scan(result: RunResult) -> Finding | None:
    """A large table read whole, over and over: the index its queries need is missing."""
    database = database_monitor(result)
    if database is None or "summary" not in database:
        return None
    summary = database["summary"]
    for table in summary.get("tables", []):
        scans, rows = table["seq_scans"], table["rows_read_by_seq"]
        if scans < MIN_SCANS or rows / scans < MIN_ROWS_PER_SCAN or scans <= table["idx_scans"]:
            continue
        found = _column(table["table"], summary.get("statements", []))
        where = f" on {found[0]}" if found else ""
        evidence = (f"{table['table']} ({table['live_rows']:,} rows) was scanned sequentially "
                    f"{scans:,} times during the run, reading {rows / scans:,.0f} rows per scan "
                    f"({rows:,} in all), against {table['idx_scans']:,} index scans")  # fmt: skip
        if found:
            evidence += f"; the statement: {found[1][:200]}"
        column = found[0] if found else "the column the query filters by"
        if database.get("kind") == "postgresql":
            create = f"CREATE INDEX CONCURRENTLY ON {table['table']} ({column})"
            explain = "EXPLAIN (ANALYZE, BUFFERS)"
        else:  # (SQLite, and most others, want a name and know no CONCURRENTLY)
            name = f"{table['table'].rsplit('.', 1)[-1]}_{found[0] if found else 'col'}_idx"
            create = f"CREATE INDEX {name} ON {table['table']} ({column})"
            explain = "EXPLAIN (EXPLAIN QUERY PLAN on SQLite)"
        suggestion = (f"Add an index{where}: {create}; then run again and compare. Check the "
                      f"plan with {explain}.")  # fmt: skip
        data = {"table": table["table"], "live_rows": table["live_rows"], "seq_scans": scans,
                "rows_per_scan": round(rows / scans), "rows_read": rows,
                "idx_scans": table["idx_scans"], "column": found[0] if found else None}  # fmt: skip
        return Finding(id="full-table-scan", severity="high",
                       title=f"Full table scans on {table['table']}: a missing index{where}",
                       evidence=evidence, suggestion=suggestion, data=data)  # fmt: skip
    return None


def db_connection_per_request(result: RunResult) -> Finding | None:
    """The app opens a database connection for (nearly) every request."""
    database = database_monitor(result)
    if database is None:
        return None
    samples = middle(database.get("timeline", []))
    sessions = sum(int(p.get("sessions_per_s") or 0) for p in samples)
    seconds = {p["t"] for p in samples}
    requests = sum(p.requests for p in result.timeline if p.t in seconds)
    if requests < 100 or sessions < CONNECTION_SHARE * requests:
        return None
    return Finding(
        id="db-connection-per-request",
        severity="high",
        title="A new database connection for every request",
        evidence=(
            f"the database saw {sessions:,} new sessions while the target served "
            f"{requests:,} requests in the same {len(seconds)} seconds "
            f"({sessions / requests:.2f} per request)"
        ),
        suggestion=(
            "Opening a connection costs a process fork, authentication and warm-up on "
            "every request: use a connection pool in the app (psycopg_pool, "
            "SQLAlchemy's pool, HikariCP) or PgBouncer in front of PostgreSQL."
            if database.get("kind") == "postgresql"
            else "Opening a connection costs a file open and a schema read (SQLite) or a "
            "handshake and authentication (a server) on every request: keep connections "
            "in a pool (SQLAlchemy's pool, or one per worker thread) and reuse them."
        ),
        data={
            "sessions": sessions,
            "requests": requests,
            "seconds": len(seconds),
            "sessions_per_request": round(sessions / requests, 3),
        },
    )
