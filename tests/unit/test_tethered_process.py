"""A server loadlens starts cannot outlive it: real processes, a stand-in for loadlens.

The stand-in starts a `TetheredProcess` and is SIGKILLed, as loadlens may be; the server
(and what the server started) must be gone soon after, and not before.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from loadlens.monitoring.tethered_process import TetheredProcess, die_with_parent
from support.cli import SRC

pytestmark = pytest.mark.timeout(30)

# Servers that sleep and write their pid where the test can read it.
_SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"
_STUBBORN = (  # ignores SIGTERM: only SIGKILL ends it
    "import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    " open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"
)
# Stands in for loadlens: starts the server, says its pid and its watchdog's, then waits.
_STAND_IN = textwrap.dedent("""
    import json, sys, time
    from loadlens.monitoring.tethered_process import TetheredProcess
    server = TetheredProcess(json.loads(sys.argv[1]), grace=float(sys.argv[2]))
    print(json.dumps([server.pid, server._watchdog.pid]), flush=True)
    time.sleep(60)
""")


def _gone(pid: int) -> bool:
    """Exited (a zombie that init has yet to reap has exited too)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pids: list[int], timeout: float) -> float:
    started = time.monotonic()
    while not all(_gone(pid) for pid in pids):
        assert time.monotonic() - started < timeout, [p for p in pids if not _gone(p)]
        time.sleep(0.05)
    return time.monotonic() - started


def _read_pid(path: Path, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.02)
    return int(path.read_text())


@contextlib.contextmanager
def _stand_in(
    argv: list[str], grace: float = 5.0
) -> Iterator[tuple[subprocess.Popen[str], int, int]]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    process = subprocess.Popen([sys.executable, "-c", _STAND_IN, json.dumps(argv), str(grace)],
                               stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        assert process.stdout is not None
        server, watchdog = json.loads(process.stdout.readline())
        yield process, server, watchdog
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("kind", ["server", "a shell's child", "one that ignores SIGTERM"])
def test_a_sigkilled_loadlens_takes_its_server_along(tmp_path: Path, kind: str) -> None:
    pid_file = tmp_path / "pid"
    program = _STUBBORN if kind == "one that ignores SIGTERM" else _SLEEPER
    argv = [sys.executable, "-c", program, str(pid_file)]
    if kind == "a shell's child":
        # The shell stays (no exec), as `npm start` or a start script does: the real
        # server is its child, which the parent-death signal never reaches.
        argv = ["sh", "-c", f"{shlex.join(argv)} & wait"]
    with _stand_in(argv, grace=0.5) as (stand_in, leader, watchdog):
        server = _read_pid(pid_file)
        time.sleep(0.5)  # longer than the watchdog's poll: it leaves a living loadlens alone
        assert not _gone(server) and not _gone(leader)
        stand_in.send_signal(signal.SIGKILL)
        took = _wait_gone([server, leader, watchdog], timeout=3.0)
    assert took < 2.0, f"{kind}: gone {took:.1f} s after loadlens"


def test_a_stopped_server_takes_its_watchdog_along(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    server = TetheredProcess([sys.executable, "-c", _SLEEPER, str(pid_file)])
    pid = _read_pid(pid_file)
    watchdog = server._watchdog
    assert watchdog is not None and watchdog.poll() is None
    started = time.monotonic()
    server.stop()
    server.stop()  # a second stop is harmless
    assert time.monotonic() - started < 2.0
    assert _gone(pid) and watchdog.poll() is not None


def test_the_parent_death_signal_is_set_from_the_main_thread_only() -> None:
    # The kernel sends it when the starting *thread* ends: from another thread, a server
    # would be killed when that thread ended, with loadlens still running.
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    assert callable(die_with_parent(signal.SIGTERM))
    from_thread: list[object] = []
    thread = threading.Thread(target=lambda: from_thread.append(die_with_parent(signal.SIGTERM)))
    thread.start()
    thread.join()
    assert from_thread == [None]


def test_the_parent_death_signal_reaches_the_server(tmp_path: Path) -> None:
    """Without the watchdog (stood down), the kernel's signal alone stops a server."""
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    script = textwrap.dedent("""
        import json, sys, time
        from loadlens.monitoring.tethered_process import TetheredProcess
        server = TetheredProcess(json.loads(sys.argv[1]))
        server._watchdog.kill()
        server._watchdog.wait()
        print(server.pid, flush=True)
        time.sleep(60)
    """)
    pid_file = tmp_path / "pid"
    argv = [sys.executable, "-c", _SLEEPER, str(pid_file)]
    process = subprocess.Popen([sys.executable, "-c", script, json.dumps(argv)],
                               stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(SRC)})  # fmt: skip
    try:
        assert process.stdout is not None
        leader = int(process.stdout.readline())
        _read_pid(pid_file)
        process.kill()
        assert _wait_gone([leader], timeout=3.0) < 1.0
    finally:
        process.kill()
        process.wait()
