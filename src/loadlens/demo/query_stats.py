"""What the demo API's SQLite did, counted by the app itself, for `--monitor dbstats+http://`.

SQLite is a library, not a server: nothing outside the app can see its queries. So the
app counts them, as pg_stat_statements and pg_stat_user_tables do for PostgreSQL:
statements by normalised text (calls, time, rows), connections opened, and per table the
full scans and index searches its statements made (read once per statement text from
EXPLAIN QUERY PLAN), with the rows a full scan reads (taken as the table's: a scan that a
LIMIT stops early is counted whole). Each worker process writes its
counters to a file of its own in a shared directory (as prometheus_client's multiprocess
mode does); `serve_stats` sums the files and serves them over HTTP, in the format any app
can serve to loadlens (docs/monitoring.md). It runs beside the app, not in it: an app
saturated by the load would answer its statistics as late as everything else.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["QueryStats", "read_stats", "serve_stats"]

_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
_PLAN = re.compile(r"^(SCAN|SEARCH) (?:TABLE )?(\w+)(?: USING (?:COVERING )?INDEX (\w+))?")
_FLUSH_EVERY_S = 0.2


def normalise(sql: str) -> str:
    """The statement with its literals as `?`, as pg_stat_statements shows it with `$n`."""
    return " ".join(_LITERAL.sub("?", sql).split())


class QueryStats:
    """One worker process's counters, flushed to `directory/<pid>.json` now and then."""

    def __init__(self, directory: Path, database: str) -> None:
        self._directory = directory
        self._database = database
        self._lock = threading.Lock()
        self._sessions = 0
        self._statements: dict[str, list[float]] = {}  # text -> [calls, total ms, rows]
        self._tables: dict[str, list[int]] = {}  # name -> [seq scans, rows read, idx scans]
        self._plans: dict[str, list[tuple[str, bool]]] = {}  # text -> [(table, full scan)]
        self._live_rows: dict[str, int] = {}
        self._flush_lock = threading.Lock()  # one writer at a time: files never go back
        self._dirty = False
        # Flushed by a thread of its own, so the last requests before a quiet spell (the
        # end of a run) are in the file too, and requests never wait on a write.
        threading.Thread(target=self._flush_loop, name="db-stats-flush", daemon=True).start()

    def connection_opened(self) -> None:
        """Count a new database connection."""
        with self._lock:
            self._sessions += 1
            self._dirty = True

    def executed(self, conn: sqlite3.Connection, sql: str, params: Any, ms: float,
                 rows: int) -> None:  # fmt: skip
        """Count one statement that took `ms` and returned `rows`."""
        text = normalise(sql)
        plan = self._plans.get(text)
        if plan is None:
            plan = self._plans[text] = self._explain(conn, sql, params)
        with self._lock:
            kept = self._statements.setdefault(text, [0, 0.0, 0])
            kept[0] += 1
            kept[1] += ms
            kept[2] += rows
            for table, full in plan:
                counts = self._tables.setdefault(table, [0, 0, 0])
                if full:
                    counts[0] += 1
                    counts[1] += self._live_rows.get(table, 0)
                else:
                    counts[2] += 1
            self._dirty = True

    def _explain(self, conn: sqlite3.Connection, sql: str, params: Any) -> list[tuple[str, bool]]:
        plan = []
        for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params):
            match = _PLAN.match(str(row[-1]))
            if match:
                table = match.group(2)
                plan.append((table, match.group(1) == "SCAN"))
                if table not in self._live_rows:
                    (count,) = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
                    self._live_rows[table] = int(count)
        return plan

    def _flush_loop(self) -> None:
        while True:
            time.sleep(_FLUSH_EVERY_S)
            if self._dirty:
                with contextlib.suppress(OSError):  # (the directory went with its run)
                    self.flush()

    def flush(self) -> None:
        """Write this process's counters (atomically: a reader never sees half a file)."""
        with self._flush_lock:
            with self._lock:
                self._dirty = False
                document = {
                    "sessions": self._sessions,
                    "statements": {k: v[:] for k, v in self._statements.items()},
                    "tables": {k: [*v, self._live_rows.get(k, 0)]
                               for k, v in self._tables.items()},
                }  # fmt: skip
            path = self._directory / f"{os.getpid()}.json"
            partial = path.with_suffix(".tmp")
            partial.write_text(json.dumps(document))
            partial.replace(path)


def read_stats(directory: Path, database: str) -> dict[str, Any]:
    """Every process's counters, summed: the document the stats endpoint serves."""
    sessions = 0
    statements: dict[str, list[float]] = {}
    tables: dict[str, list[int]] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # (a process writing its first file)
        sessions += int(document["sessions"])
        for text, (calls, total, rows) in document["statements"].items():
            kept = statements.setdefault(text, [0, 0.0, 0])
            kept[0] += calls
            kept[1] += total
            kept[2] += rows
        for table, (seq, read, idx, live) in document["tables"].items():
            counts = tables.setdefault(table, [0, 0, 0, 0])
            counts[0] += seq
            counts[1] += read
            counts[2] += idx
            counts[3] = max(counts[3], live)
    return {
        "database": database,
        "sessions": sessions,
        "statements": [
            {"query": text, "calls": int(c), "total_ms": round(t, 3), "rows": int(r)}
            for text, (c, t, r) in statements.items()
        ],
        "tables": [
            {
                "table": name,
                "seq_scans": s,
                "rows_read_by_seq": r,
                "idx_scans": i,
                "live_rows": live,
            }
            for name, (s, r, i, live) in tables.items()
        ],
    }


@contextlib.contextmanager
def serve_stats(directory: Path, database: str) -> Iterator[str]:
    """Serve the summed statistics on 127.0.0.1 while in the block; yield their URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(read_stats(directory, database)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="demo-db-stats", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/db-stats"
    finally:
        server.shutdown()
        server.server_close()
