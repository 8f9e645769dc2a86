"""A target backed by a real PostgreSQL, with a database bottleneck planted on purpose.

`python tests/support/db_app.py MODE PORT DSN` (threaded http.server, keep-alive):

=========  ================================================================
scan       looks an item up by `sku`, which has no index: a full scan of
           loadlens_items (300,000 rows) per request, on one shared connection
connect    opens a new database connection per request (SELECT 1), no pool
indexed    looks an item up by its primary key on one shared connection: healthy
=========  ================================================================

Each response says how long its query took in a `Server-Timing: db;dur=...` header.
"""

from __future__ import annotations

import random
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

ROWS = 300_000  # a scan of them takes ~30 ms: a slow statement on any machine


def prepare(dsn: str) -> None:
    """The items table, without an index on sku (idempotent)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS loadlens_items "
                     "(id serial PRIMARY KEY, sku text NOT NULL, price int NOT NULL)")  # fmt: skip
        count = conn.execute("SELECT count(*) FROM loadlens_items").fetchone()
        if count is None or count[0] < ROWS:
            conn.execute("TRUNCATE loadlens_items")
            conn.execute("INSERT INTO loadlens_items (sku, price) SELECT 'sku-' || g, "
                         "g %% 100 FROM generate_series(1, %s) g", (ROWS,))  # fmt: skip
            conn.execute("ANALYZE loadlens_items")


def main(mode: str, port: int, dsn: str) -> None:
    """Serve until killed."""
    prepare(dsn)
    shared = psycopg.connect(dsn, autocommit=True)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes: without this, Nagle's algorithm holds
            # the body for the client's delayed ACK, 40 ms a request that are no one's.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            started = time.perf_counter()
            if mode == "scan":
                with lock:
                    sku = f"sku-{random.randint(1, ROWS)}"
                    shared.execute("SELECT id, price FROM loadlens_items WHERE sku = %s", (sku,))
            elif mode == "indexed":
                with lock:
                    key = random.randint(1, ROWS)
                    shared.execute("SELECT id, price FROM loadlens_items WHERE id = %s", (key,))
            else:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute("SELECT 1")
            body = b'{"ok":true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Server-Timing", f"db;dur={(time.perf_counter() - started) * 1e3:.2f}")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
