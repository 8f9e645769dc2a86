"""Startup: `loadlens --help`, `--version` and a one-request run, from command to exit.

Issue 13's goals, on the median of several runs: `loadlens --help` under 0.15 s and a
one-request run (`loadlens run URL -u 1 -i 1 --workers 1`) under 0.3 s from command to
exit. Each command is the venv's `loadlens` console script as a user types it, so the
figures include the interpreter's start and every import, and its output goes to a
pseudo-terminal, so it does what it does for a person watching (the live view, the
terminal's width). Wall time runs from just before the spawn to the kernel's report of
the process's exit: a blocking waitpid, since `Popen.wait` with a timeout polls and may
notice an exit up to 50 ms late.

The one-request run is the default command, result stored, except that the run store
is a temp file (LOADLENS_DB), not the developer's ~/.loadlens; the runs share it, so the
first also creates it, as a user's first run does. Its target is a raw-socket listener
in this script that answers every request with a fixed 200 and notes `time.monotonic()`
when the first bytes of the first connection arrive: the time to first request is
printed beside the time to exit (CLOCK_MONOTONIC is system-wide, one clock for both).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import pty
import socket
import statistics
import struct
import subprocess
import tempfile
import termios
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from _loadlens import ACCEPTED_EXIT_CODES, check_cli, loadlens_script
from _proc import reexec_in_venv, warn_if_busy

HELP_GOAL_S = 0.15
ONE_REQUEST_GOAL_S = 0.3
TERMINAL_SIZE = (40, 120)  # rows, columns of the pseudo-terminal
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


@dataclass(frozen=True)
class Timed:
    """One finished command: when it was spawned, how long until it exited, how it ended."""

    started_at: float  # time.monotonic() just before the spawn
    wall_s: float
    returncode: int
    stderr: str


def _drain(master: int) -> None:
    """Read and drop a pseudo-terminal's output until the other side is closed."""
    with contextlib.suppress(OSError):  # EIO once the child and its workers are gone
        while os.read(master, 65536):
            pass


def run_timed(command: Sequence[str], env: dict[str, str], timeout: float = 60.0) -> Timed:
    """Run `command` with its output on a pseudo-terminal; time it from spawn to exit."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *TERMINAL_SIZE, 0, 0))
    drain = threading.Thread(target=_drain, args=(master,), name="drain", daemon=True)
    drain.start()
    try:
        with tempfile.TemporaryFile() as err:
            started = time.monotonic()
            process = subprocess.Popen(
                list(command), stdin=slave, stdout=slave, stderr=err, env=env
            )
            watchdog = threading.Timer(timeout, process.kill)
            watchdog.start()
            try:
                process.wait()  # no timeout: one blocking waitpid, woken by the exit itself
            finally:
                watchdog.cancel()
            wall = time.monotonic() - started
            err.seek(0)
            stderr = err.read().decode(errors="replace")
    finally:
        os.close(slave)
        drain.join(timeout=5.0)
        os.close(master)
    return Timed(started, wall, process.returncode, stderr)


def time_command(args: Sequence[str], env: dict[str, str]) -> float:
    """Seconds from spawn to exit of `loadlens ARGS`, which must succeed."""
    timed = run_timed([loadlens_script(), *args], env)
    if timed.returncode != 0:
        raise RuntimeError(f"loadlens {' '.join(args)} exited {timed.returncode}:\n{timed.stderr}")
    return timed.wall_s


def time_one_request(env: dict[str, str]) -> tuple[float, float]:
    """Seconds to exit and to the first request's bytes of a one-request `loadlens run`."""
    with FirstRequestListener() as listener:
        url = f"http://127.0.0.1:{listener.port}/"
        timed = run_timed([loadlens_script(), *one_request_args(url)], env)
    if timed.returncode not in ACCEPTED_EXIT_CODES:
        raise RuntimeError(f"loadlens run exited {timed.returncode}:\n{timed.stderr}")
    if listener.first_bytes_at is None:
        raise RuntimeError("loadlens run exited without sending a request")
    return timed.wall_s, listener.first_bytes_at - timed.started_at


def one_request_args(url: str) -> list[str]:
    """The one-request run of the goal: one user, one iteration, one worker."""
    return ["run", url, "-u", "1", "-i", "1", "--workers", "1"]


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="times to run each command (5)")
    return parser.parse_args()


def print_median(label: str, figures: list[float], goal_s: float | None = None) -> None:
    """The median of `figures` in seconds, and the goal if there is one."""
    median = statistics.median(figures)
    line = f"median {label:<22} {median:.3f} s"
    if goal_s is not None:
        line += f"  (goal < {goal_s} s: {'ok' if median < goal_s else 'above goal'})"
    print(line)


def main() -> None:
    """Time each command several times, taking turns, and print each run and the medians."""
    reexec_in_venv()
    args = parse_args()
    check_cli()
    warn_if_busy()
    figures: dict[str, list[float]] = {"help": [], "version": [], "exit": [], "first": []}
    with tempfile.TemporaryDirectory(prefix="loadlens-startup-") as tmp:
        env = {**os.environ, "LOADLENS_DB": str(Path(tmp) / "runs.db")}
        env.setdefault("TERM", "xterm-256color")
        print(f"{loadlens_script()}, output to a {TERMINAL_SIZE[1]}-column pseudo-terminal")
        print(f"one-request run: loadlens {' '.join(one_request_args('URL'))}\n", flush=True)
        for n in range(1, args.runs + 1):
            figures["help"].append(time_command(["--help"], env))
            figures["version"].append(time_command(["--version"], env))
            to_exit, to_first = time_one_request(env)
            figures["exit"].append(to_exit)
            figures["first"].append(to_first)
            print(
                f"run {n}: --help {figures['help'][-1]:.3f} s, --version "
                f"{figures['version'][-1]:.3f} s, one-request run {to_exit:.3f} s to exit "
                f"({to_first:.3f} s to first request)",
                flush=True,
            )
    print()
    print_median("loadlens --help", figures["help"], HELP_GOAL_S)
    print_median("loadlens --version", figures["version"])
    print_median("one-request run", figures["exit"], ONE_REQUEST_GOAL_S)
    print_median("  to first request", figures["first"])


if __name__ == "__main__":
    main()
