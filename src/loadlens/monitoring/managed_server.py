"""`--server 'CMD'`: loadlens starts the target, waits for its port, and stops it after.

The target is a `TetheredProcess`: it cannot outlive loadlens, even a SIGKILLed one.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import threading
import time
from typing import IO
from urllib.parse import urlsplit

from loadlens.monitoring.tethered_process import TetheredProcess

__all__ = ["ManagedServer", "ServerError"]

_TAIL_BYTES = 64 * 1024  # the server's last output kept, to show why it failed
_TAIL_LINES = 15  # of which the error shows the last lines


class ServerError(Exception):
    """The server did not start (or exited before answering); the message has its output."""


class _OutputTail:
    """The last 64 KiB or so that a pipe carried, read to its end by a thread of its own.

    A server's output is kept in memory, never in a file, so a chatty one cannot fill a
    disk over a long run; and the pipe is drained all the time, since a server whose pipe
    is full (64 KiB on Linux) blocks in its next write, which would look like a server
    that hangs under load.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._lock = threading.Lock()
        # A daemon: a process that left the server's group (daemonized) may hold the pipe
        # open after the stop, and reading it must not keep loadlens from exiting.
        self._reader = threading.Thread(
            target=self._read, args=(stream,), name="loadlens-server-output", daemon=True
        )
        self._reader.start()

    def _read(self, stream: IO[bytes]) -> None:
        with stream:
            while chunk := os.read(stream.fileno(), 65536):
                with self._lock:
                    self._chunks.append(chunk)
                    self._size += len(chunk)
                    while self._size - len(self._chunks[0]) >= _TAIL_BYTES:
                        self._size -= len(self._chunks.popleft())

    def wait(self, timeout: float) -> None:
        """Until the pipe is closed (everything the server wrote is in), or `timeout`."""
        self._reader.join(timeout)

    def text(self) -> str:
        """The last lines, or "(no output)"."""
        with self._lock:
            data = b"".join(self._chunks)
        # The first line may be cut (and a character with it): "replace".
        lines = data.decode("utf-8", "replace").strip().splitlines()
        return "\n".join(lines[-_TAIL_LINES:]) or "(no output)"


class ManagedServer:
    """A target process started for the run, in its own process group, tied to loadlens."""

    def __init__(
        self,
        command: str,
        url: str,
        ready_timeout: float = 30.0,
        env: dict[str, str] | None = None,
        label: str | None = None,
    ) -> None:
        self.command = command
        self._env = env  # added to loadlens's own environment
        self._name = label or f"--server {command!r}"
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._timeout = ready_timeout
        self._process: TetheredProcess | None = None
        self._output: _OutputTail | None = None  # its last output, to show if it fails

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self._process is not None, "not started"
        return self._process.pid

    def _last_output(self) -> str:
        assert self._output is not None, "not started"
        # It has exited or been stopped: what it wrote last may still be in the pipe.
        self._output.wait(timeout=1.0)
        return self._output.text()

    def start(self) -> None:
        """Start it; return once its port accepts a connection."""
        try:
            argv = shlex.split(self.command)
        except ValueError as e:
            raise ServerError(f"{self._name}: {e}") from None
        with (
            contextlib.suppress(OSError),
            socket.create_connection((self._host, self._port), timeout=0.5),
        ):
            # Something already answers there: the load would go to it, not to the server.
            raise ServerError(f"{self._name}: {self._host}:{self._port} already answers before the "
                              "server starts (a server left running?); stop it first")  # fmt: skip
        try:
            self._process = TetheredProcess(
                argv, stop_signal=signal.SIGTERM, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env={**os.environ, **self._env} if self._env else None,
            )  # fmt: skip
        except OSError as e:
            raise ServerError(f"{self._name}: cannot start it ({e.strerror})") from None
        assert self._process.process.stdout is not None
        self._output = _OutputTail(self._process.process.stdout)
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if (code := self._process.poll()) is not None:
                raise ServerError(f"{self._name} exited with {code} before answering on "
                                  f"{self._host}:{self._port}:\n{self._last_output()}")  # fmt: skip
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self._host, self._port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        self.stop()
        where = f"{self._host}:{self._port}"
        raise ServerError(f"{self._name}: nothing answered on {where} within "
                          f"{self._timeout:.0f} s:\n{self._last_output()}")  # fmt: skip

    def stop(self) -> None:
        """SIGTERM to its whole group, then SIGKILL after 5 s."""
        if self._process is None:
            return
        self._process.stop()
        if self._output is not None:
            # Its reader ends with the pipe, now, unless a process that left the group holds
            # it open: then the daemon thread goes on until that one exits.
            self._output.wait(timeout=1.0)
