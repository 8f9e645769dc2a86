"""Startup latency: time from launching `loadlens run` to its first request's bytes.

A small raw-socket listener in this process answers every request with a fixed
200 and notes `time.monotonic()` when the first bytes of the first connection
arrive. The clock is read just before the child is spawned; CLOCK_MONOTONIC is
system-wide, so both readings are on the same clock.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import threading
import time
from types import TracebackType

from _loadlens import check_cli, loadlens_command
from _proc import raise_nofile_limit, reexec_in_venv, run_measured, warn_if_busy

GOAL_MS = 1000.0
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: 11\r\nConnection: keep-alive\r\n\r\n"
    b'{"ok":true}'
)


class FirstRequestListener:
    """Listens on 127.0.0.1, answers every request, and remembers when bytes first came."""

    def __init__(self) -> None:
        self.first_bytes_at: float | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, name="accept")

    def __enter__(self) -> FirstRequestListener:
        self._acceptor.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._acceptor.join()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._sock.close()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), name="conn")
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        pending = b""
        with conn, contextlib.suppress(OSError):
            while not self._stopping.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    return
                self._note_first_bytes()
                pending += data
                heads = pending.count(b"\r\n\r\n")
                pending = pending[pending.rfind(b"\r\n\r\n") + 4 :] if heads else pending
                conn.sendall(RESPONSE * heads)

    def _note_first_bytes(self) -> None:
        now = time.monotonic()
        with self._lock:
            if self.first_bytes_at is None:
                self.first_bytes_at = now


def measure_once(users: int, duration: str, extra: list[str]) -> float:
    """Launch one `loadlens run`; return ms from just before spawn to its first request."""
    with FirstRequestListener() as listener:
        url = f"http://127.0.0.1:{listener.port}/"
        command = loadlens_command(url, users, duration, extra)
        measured = run_measured(command, timeout=120.0)
    if measured.returncode not in (0, 98, 99):
        raise RuntimeError(f"loadlens exited {measured.returncode}:\n{measured.stderr}")
    if listener.first_bytes_at is None:
        raise RuntimeError("loadlens exited without sending a request")
    return (listener.first_bytes_at - measured.started_at) * 1000.0


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="launches to time (3)")
    parser.add_argument("-u", "--users", type=int, default=1, help="users per run (1)")
    parser.add_argument("-d", "--duration", default="1s", help="loadlens -d per run (1s)")
    parser.add_argument("--workers", type=int, help="loadlens --workers (default: its own)")
    return parser.parse_args()


def main() -> None:
    """Time several launches and print each and the median."""
    reexec_in_venv()
    args = parse_args()
    raise_nofile_limit()
    check_cli()
    warn_if_busy()
    extra = ["--workers", str(args.workers)] if args.workers else []
    print(f"loadlens run URL -u {args.users} -d {args.duration} {' '.join(extra)}".rstrip())
    deltas: list[float] = []
    for n in range(1, args.runs + 1):
        deltas.append(measure_once(args.users, args.duration, extra))
        print(f"run {n}: {deltas[-1]:.0f} ms to first request", flush=True)
    print(f"median: {statistics.median(deltas):.0f} ms")
    print(f"goal: < {GOAL_MS:.0f} ms")


if __name__ == "__main__":
    main()
