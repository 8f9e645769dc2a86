"""`loadlens run --server CMD`: the server goes when loadlens goes, however loadlens goes.

SIGKILLed mid-run, the server is gone within a couple of seconds; SIGTERM or Ctrl-C while
the server boots stops it and exits 130, leaving nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator

import psutil
import pytest

from support.cli import LoadlensRunner

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _gone(process: psutil.Process) -> bool:
    """Exited (a zombie that init has yet to reap has exited too)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"{what} within {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - started


def _children(pid: int, marker: str) -> list[psutil.Process]:
    """The processes under `pid` whose command line has `marker`."""
    found = []
    with contextlib.suppress(psutil.NoSuchProcess):
        for child in psutil.Process(pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if marker in " ".join(child.cmdline()):
                    found.append(child)
    return found


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


@contextlib.contextmanager
def _killed_after(pid: int) -> Iterator[None]:
    """Whatever the test leaves in loadlens's session (its workers) goes at the end."""
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def test_a_sigkilled_run_takes_its_server_along(loadlens: LoadlensRunner) -> None:
    port = _free_port()
    server = f"{sys.executable} -m http.server {port} --bind 127.0.0.1"
    proc, _out, _cmd = loadlens.start(f"http://127.0.0.1:{port}/", "-u", "1", "-d", "2s",
                                      "--server", server, new_session=True)  # fmt: skip
    with _killed_after(proc.pid):
        _wait_for(lambda: _answers(port), 20, "the server answered")
        (started,) = _children(proc.pid, "http.server")
        watchdogs = _children(proc.pid, "tether_watchdog")
        assert len(watchdogs) == 1, watchdogs
        proc.send_signal(signal.SIGKILL)  # loadlens alone: its workers are not the point
        proc.wait()
        took = _wait_for(lambda: _gone(started) and not _answers(port), 5, "the server went")
        assert took < 2.0, f"the server was gone {took:.1f} s after loadlens"
        _wait_for(lambda: _gone(watchdogs[0]), 7, "the watchdog went")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_run_stopped_while_its_server_boots_stops_the_server(
    loadlens: LoadlensRunner, signum: int
) -> None:
    port = _free_port()
    # A server that takes its time: it never answers before the signal.
    server = f"{sys.executable} -c 'import time; time.sleep(30)' boot-{port}"
    proc, out, _cmd = loadlens.start(f"http://127.0.0.1:{port}/", "-u", "1", "-d", "2s",
                                     "--server", server, new_session=True)  # fmt: skip
    with _killed_after(proc.pid):
        _wait_for(lambda: len(_children(proc.pid, f"boot-{port}")) == 1, 20, "the server started")
        (booting,) = _children(proc.pid, f"boot-{port}")
        watchdogs = _children(proc.pid, "tether_watchdog")
        proc.send_signal(signum)  # as a service manager's stop, or a terminal's Ctrl-C
        _stdout, stderr = proc.communicate(timeout=15)
        assert proc.returncode == 130, stderr
        assert "interrupted before the load started" in stderr
        assert "Traceback" not in stderr
        assert _gone(booting), "the booting server outlived loadlens"
        assert all(_gone(w) for w in watchdogs), "a watchdog outlived a clean stop"
        assert not out.exists()
