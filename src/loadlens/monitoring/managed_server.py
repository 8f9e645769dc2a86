"""`--server 'CMD'`: loadlens starts the target, waits for its port, and stops it after."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from urllib.parse import urlsplit

__all__ = ["ManagedServer", "ServerError"]


class ServerError(Exception):
    """The server did not start (or exited before answering); the message has its output."""


class ManagedServer:
    """A target process started for the run, in its own process group."""

    def __init__(self, command: str, url: str, ready_timeout: float = 30.0) -> None:
        self.command = command
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._timeout = ready_timeout
        # Its output, to show if it fails to start; closed with the object.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self._process is not None, "not started"
        return self._process.pid

    def _output(self) -> str:
        self._log.seek(0)
        lines = self._log.read().decode("utf-8", "replace").strip().splitlines()
        return "\n".join(lines[-15:]) or "(no output)"

    def start(self) -> None:
        """Start it; return once its port accepts a connection."""
        try:
            argv = shlex.split(self.command)
        except ValueError as e:
            raise ServerError(f"--server {self.command!r}: {e}") from None
        with (
            contextlib.suppress(OSError),
            socket.create_connection((self._host, self._port), timeout=0.5),
        ):
            # Something already answers there: the load would go to it, not to the server.
            raise ServerError(f"--server: {self._host}:{self._port} already answers before the "
                              "server starts (a server left running?); stop it first")  # fmt: skip
        try:
            self._process = subprocess.Popen(
                argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: stopped as a whole, not by our Ctrl-C
            )  # fmt: skip
        except OSError as e:
            raise ServerError(
                f"--server {self.command!r}: cannot start it ({e.strerror})"
            ) from None
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServerError(f"--server {self.command!r} exited with "
                                  f"{self._process.returncode} before answering on "
                                  f"{self._host}:{self._port}:\n{self._output()}")  # fmt: skip
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self._host, self._port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        self.stop()
        where = f"{self._host}:{self._port}"
        raise ServerError(f"--server {self.command!r}: nothing answered on {where} within "
                          f"{self._timeout:.0f} s:\n{self._output()}")  # fmt: skip

    def stop(self) -> None:
        """SIGTERM to its whole group, then SIGKILL after 5 s."""
        process = self._process
        if process is None:
            return
        # The whole group, even when its first process has exited: children it started
        # (a shell's server) would go on serving.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # what did not go on SIGTERM
        process.wait()
