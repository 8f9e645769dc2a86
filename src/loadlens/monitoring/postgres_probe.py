"""`--monitor postgresql://...`: what the database did during the run. Read-only.

Per second: new sessions, commits, backends by state (active, idle in transaction,
waiting), block reads and the cache hit ratio (pg_stat_database, pg_stat_activity). Over
the run, as deltas from the start: each table's sequential and index scans and rows read
(pg_stat_user_tables), and the statements that took the most time, with their calls, rows
and shared blocks (pg_stat_statements, when installed). Statistics are only read, never reset.
"""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg

from loadlens.monitoring.probe import ProbeGone
from loadlens.redaction import safe_url

__all__ = ["PostgresProbe"]

_DATABASE = """
SELECT xact_commit, xact_rollback, blks_read, blks_hit, sessions
FROM pg_stat_database WHERE datname = current_database()"""
_ACTIVITY = """
SELECT count(*),
       count(*) FILTER (WHERE state = 'active'),
       count(*) FILTER (WHERE state = 'idle in transaction'),
       count(*) FILTER (WHERE state = 'active' AND wait_event_type IN ('Lock', 'LWLock', 'IO'))
FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"""
_TABLES = """
SELECT schemaname || '.' || relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0),
       greatest(n_live_tup, (SELECT reltuples::bigint FROM pg_class WHERE oid = relid))
FROM pg_stat_user_tables"""
_STATEMENTS = """
SELECT queryid, query, calls, total_exec_time, rows, shared_blks_hit, shared_blks_read
FROM pg_stat_statements WHERE queryid IS NOT NULL AND dbid = (
    SELECT oid FROM pg_database WHERE datname = current_database())"""


# The start of this probe's own statements as pg_stat_statements normalises them: they are
# left out of the run's top statements.
_OWN_STATEMENTS = tuple(
    " ".join(q.split()).split("'")[0][:40] for q in (_DATABASE, _ACTIVITY, _TABLES, _STATEMENTS)
)  # (up to a literal, which the normalised text shows as $1)


class PostgresProbe:
    """One read-only connection to the target's database."""

    name = "postgresql"
    kind = "postgresql"

    def __init__(self, url: str) -> None:
        self._url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.target = safe_url(self._url)
        self._conn: psycopg.Connection[Any] | None = None
        self._last: tuple[Any, ...] = ()
        self._tables: dict[str, tuple[Any, ...]] = {}  # seq scans, rows read, idx scans, rows
        self._statements: dict[int, tuple[Any, ...]] | None = None

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        assert self._conn is not None
        try:
            return self._conn.execute(sql).fetchall()
        except psycopg.Error as e:
            raise ProbeGone(f"the database stopped answering ({str(e).strip()})") from None

    def start(self) -> None:
        """Connect (read-only) and take the baselines."""
        try:
            # A database host that vanishes (rather than refusing) would hang a query for
            # minutes without tcp_user_timeout; the monitor must notice within seconds.
            self._conn = psycopg.connect(
                self._url, autocommit=True, connect_timeout=5, tcp_user_timeout=3000,
                keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=2,
            )  # fmt: skip
        except psycopg.Error as e:
            raise ProbeGone(f"cannot connect ({str(e).strip().splitlines()[0]})") from None
        self._conn.execute("SET default_transaction_read_only = on")
        self.target = f"{self.target} (PostgreSQL {self._conn.info.server_version // 10000})"
        self._last = self._query(_DATABASE)[0]
        self._tables = {str(row[0]): tuple(row[1:]) for row in self._query(_TABLES)}
        with contextlib.suppress(ProbeGone):
            self._statements = self._read_statements()

    def _read_statements(self) -> dict[int, tuple[Any, ...]]:
        return {int(row[0]): tuple(row[1:]) for row in self._query(_STATEMENTS)}

    def sample(self) -> dict[str, Any]:
        """The second since the last sample."""
        now = self._query(_DATABASE)[0]
        commits, rollbacks, reads, hits, sessions = (
            (b or 0) - (a or 0) for a, b in zip(self._last, now, strict=True)
        )
        self._last = now
        backends, active, idle_in_tx, waiting = self._query(_ACTIVITY)[0]
        return {
            "sessions_per_s": sessions,
            "commits_per_s": commits,
            "rollbacks_per_s": rollbacks,
            "blocks_read_per_s": reads,
            "cache_hit_percent": round(100 * hits / (hits + reads), 2) if hits + reads else 100.0,
            "backends": backends,
            "active": active,
            "idle_in_transaction": idle_in_tx,
            "waiting": waiting,
        }

    def summary(self) -> dict[str, Any]:
        """Over the run: scans per table, and the statements that took the most time.

        (A table's rows are n_live_tup, or the planner's estimate when larger: the live
        count lags behind a bulk load until its statistics are flushed.)
        """
        tables: list[dict[str, Any]] = []
        for name, *row in self._query(_TABLES):
            before = self._tables.get(str(name), (0, 0, 0, 0))
            seq, rows_read, idx = (int(row[i] or 0) - int(before[i] or 0) for i in range(3))
            if seq or idx:
                tables.append({"table": name, "seq_scans": seq, "rows_read_by_seq": rows_read,
                               "idx_scans": idx, "live_rows": int(row[3] or 0)})  # fmt: skip
        tables.sort(key=lambda t: -int(t["rows_read_by_seq"]))
        statements: list[dict[str, Any]] = []
        if self._statements is not None:
            with contextlib.suppress(ProbeGone):
                for queryid, now in self._read_statements().items():
                    query, calls, total, rows, hit, read = now
                    b = self._statements.get(queryid, ("", 0, 0.0, 0, 0, 0))
                    text = " ".join(query.split())
                    if calls - b[1] > 0 and not text.startswith(_OWN_STATEMENTS):
                        statements.append({
                            "query": text[:500], "calls": calls - b[1],
                            "total_ms": round(total - b[2], 2), "rows": rows - b[3],
                            "mean_ms": round((total - b[2]) / (calls - b[1]), 3),
                            "blocks_hit": hit - b[4], "blocks_read": read - b[5],
                        })  # fmt: skip
        statements.sort(key=lambda s: -float(s["total_ms"]))
        return {"tables": tables[:20], "statements": statements[:10],
                "pg_stat_statements": self._statements is not None}  # fmt: skip

    def stop(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
