"""A slow target of the kind the verdict was wrong about: an app that opens a new
PostgreSQL connection for every request (no pool), on the machine that runs the test.

Each request: connect (with the password check a SCRAM login costs the client: PBKDF2-
SHA-256 over 4096 rounds; the throwaway cluster trusts local logins, so the app does that
work itself), `SELECT 1`, close; in a thread
per connection (`http.server`'s ThreadingHTTPServer, keep-alive). PostgreSQL forks a
backend per connection, so the machine is busy with short-lived processes, the kernel's
work of making them, and the app's threads: what made loadlens's loop late on 2 cores.

Run as a script (`python _connect_app.py PORT DSN`), or through `run_connect_app()`,
which also makes a throwaway PostgreSQL cluster (loadlens's demo does the same).
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main(port: int, dsn: str) -> None:
    """Serve until killed."""
    import psycopg

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            hashlib.pbkdf2_hmac("sha256", b"app-password", os.urandom(16), 4096)
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("SELECT 1")
            body = b'{"ok":true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


@contextmanager
def run_connect_app(port: int, python: str, core: int | None = None) -> Iterator[list[int]]:
    """A throwaway PostgreSQL and the app on `port` (both pinned to `core`); yields the
    app's pid."""
    from _proc import pinned, stop, wait_for_port
    from loadlens.demo.local_postgres import local_postgres

    with local_postgres() as dsn:
        if core is not None:
            # The cluster is the target too: pin its postmaster (the backends it forks
            # inherit that), found as the process listening on the cluster's port.
            import psutil

            pg_port = int(dsn.rsplit(":", 1)[1].split("/", 1)[0])
            for conn in psutil.net_connections(kind="tcp"):
                if conn.laddr and conn.laddr.port == pg_port and conn.status == "LISTEN":
                    psutil.Process(conn.pid).cpu_affinity([core])
        command = [python, str(Path(__file__).resolve()), str(port), dsn]
        app = subprocess.Popen(pinned(command, core))
        try:
            wait_for_port(port, timeout=10.0, alive=app)
            yield [app.pid]
        finally:
            stop(app)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
