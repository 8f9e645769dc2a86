"""Child processes for the benchmarks: tools, file limits, core pinning, honest CPU time."""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_PYTHON = REPO / ".venv" / "bin" / "python"

# Debian package that provides each command the benchmarks need.
DEBIAN_PACKAGES = {"nginx": "nginx-light", "wrk": "wrk", "taskset": "util-linux"}

_PR_SET_CHILD_SUBREAPER = 36


def python_executable() -> str:
    """The loadlens venv's python if it exists, else the one running this script."""
    return str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable


def reexec_in_venv() -> None:
    """Restart this script under the loadlens venv's python (it has psutil and uvloop)."""
    wanted = python_executable()
    if Path(sys.executable).absolute() != Path(wanted).absolute():
        os.execv(wanted, [wanted, *sys.argv])


def ensure_commands(*commands: str) -> None:
    """Install from Debian whichever of `commands` is missing from PATH."""
    missing = [c for c in commands if shutil.which(c) is None]
    if not missing:
        return
    packages = sorted({DEBIAN_PACKAGES[c] for c in missing})
    print(f"installing {' '.join(packages)} (missing: {' '.join(missing)})", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)


def warn_if_busy(threshold_percent: float = 5.0) -> None:
    """Say so if other processes use the CPU: the figures would then share the cores."""
    import psutil

    busy = psutil.cpu_percent(interval=1.0)
    if busy > threshold_percent:
        print(f"warning: machine busy before start ({busy:.0f}% CPU used by others)")


def machine_busy_cpu_s() -> float:
    """User and kernel CPU seconds of all processes on all cores since boot.

    Interrupt and softirq time are left out: loopback TCP is largely processed in
    softirq, which the kernel charges to no process, so neither a generator's rusage
    nor this figure includes it, and the two stay comparable.
    """
    import psutil

    times = psutil.cpu_times()
    return float(times.user + times.nice + times.system)


def tree_cpu_s(pid: int) -> float:
    """User+sys CPU seconds of a live process and its live descendants."""
    import psutil

    total = 0.0
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                cpu = proc.cpu_times()
                total += cpu.user + cpu.system
    return total


def tree_rss(pid: int) -> int | None:
    """Summed resident set size in bytes of a process and all its descendants."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return None
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            total += proc.memory_info().rss
    return total


def children_fd_count(pid: int) -> int:
    """Open file descriptors of a process's direct children (nginx's workers)."""
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess):
        return sum(child.num_fds() for child in psutil.Process(pid).children())
    return 0


def raise_nofile_limit() -> int:
    """Lift the soft open-files limit to the hard one; return the new soft limit.

    Used as `preexec_fn` too, so every load generator and server starts with as many
    sockets as the machine lets an unprivileged raise give.
    """
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def pinned(command: Sequence[str], core: int | None) -> list[str]:
    """`command` run under `taskset -c core` (children inherit the mask), or as is."""
    return list(command) if core is None else ["taskset", "-c", str(core), *command]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float, alive: subprocess.Popen[bytes]) -> None:
    """Block until 127.0.0.1:`port` accepts a connection; fail if `alive` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive.poll() is not None:
            raise RuntimeError(f"{alive.args!r} exited with {alive.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing answered on 127.0.0.1:{port} within {timeout} s")


def stop(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Terminate a child we started, then kill it if it does not exit within `grace` s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Measured:
    """A finished child process: exit code, output, wall and CPU seconds."""

    started_at: float  # time.monotonic() just before the spawn
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float
    orphans: int
    machine_cpu_s: float  # user+sys CPU seconds of every process on the machine meanwhile


def _become_subreaper() -> None:
    # If a generator exits before its own children, they are reparented to us instead
    # of init, so we can still reap them and count their CPU time.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap_orphans(known: set[int], grace: float) -> int:
    """Wait for descendants reparented to us (other than `known` pids); return their count."""
    import psutil

    me = psutil.Process()
    orphans = [p for p in me.children() if p.pid not in known]
    if not orphans:
        return 0
    _, alive = psutil.wait_procs(orphans, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace)
    return len(orphans)


def run_measured(
    command: Sequence[str],
    timeout: float,
    keep: set[int] | None = None,
    sample: Callable[[int], None] | None = None,
    interval: float = 0.5,
) -> Measured:
    """Run `command` to completion; report its CPU time including all its descendants.

    CPU time is the RUSAGE_CHILDREN delta around the wait, the same accounting as
    `/usr/bin/time`: it covers the child and every descendant that was waited for, by
    its parent or, once orphaned, by us as subreaper. `keep` lists pids of our other
    children (the target server) that must not be reaped here. `sample(pid)` is called
    every `interval` s while the child runs.
    """
    _become_subreaper()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        machine_before = machine_busy_cpu_s()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        process = subprocess.Popen(
            list(command), stdout=out, stderr=err, preexec_fn=raise_nofile_limit
        )
        _wait(process, started + timeout, sample, interval)
        wall = time.monotonic() - started
        orphans = _reap_orphans((keep or set()) | {process.pid}, grace=5.0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        machine_after = machine_busy_cpu_s()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(
        started_at=started,
        returncode=process.returncode,
        stdout=stdout.decode(errors="replace"),
        stderr=stderr.decode(errors="replace"),
        wall_s=wall,
        cpu_s=cpu,
        orphans=orphans,
        machine_cpu_s=machine_after - machine_before,
    )


def _wait(
    process: subprocess.Popen[bytes],
    deadline: float,
    sample: Callable[[int], None] | None,
    interval: float,
) -> None:
    """Wait for `process`, sampling it meanwhile; kill it at `deadline`."""
    while True:
        if sample is not None:
            sample(process.pid)
        remaining = deadline - time.monotonic()
        try:
            process.wait(max(0.0, min(interval, remaining)))
            return
        except subprocess.TimeoutExpired:
            if remaining <= interval:
                process.kill()
                process.wait()
                return
