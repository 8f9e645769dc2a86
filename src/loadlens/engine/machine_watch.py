"""The machine the generator runs on: its CPU each second, and who else was using it.

A late event loop means one of two things: loadlens had too much work of its own, or
other processes (often the target itself, on the same laptop) took the CPU it needed.
The workers measure their own CPU and how long they waited for one; this probe, sampled
each second by a `MonitorSet` in the coordinator like any monitor, measures the rest: how
busy the whole machine was, how much of that was loadlens, and which other processes used
the most, so the verdict can name them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psutil

from loadlens.monitoring.monitor_set import MonitorSet

__all__ = ["CONTENDERS", "MachineProbe", "watch_machine"]

CONTENDERS = 5  # other processes named, busiest first
WALK_EVERY_S = 5  # seconds between walks of the process table (~4 ms each at 60 processes)
_INTERPRETERS = ("python", "node", "java", "ruby", "perl", "php", "bash", "sh")


@dataclass(slots=True)
class _Usage:
    name: str
    pid: int
    cpu_s: float = 0.0  # used during the watch
    last_total: float = 0.0  # its user + system CPU seconds at the last walk


def _busy(times: Any) -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine since boot; iowait counts as idle."""
    # Linux counts guest time inside user time as well (psutil's cpu_percent subtracts it too).
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


def _label(usage: _Usage) -> str:
    """A process's name, with the script it runs when the name is only an interpreter's:
    `python (hog.py)` says more than `python`."""
    if not usage.name.startswith(_INTERPRETERS):
        return usage.name
    try:
        args = psutil.Process(usage.pid).cmdline()[1:]
    except psutil.Error:
        return usage.name
    for i, arg in enumerate(args):
        if arg == "-m" and i + 1 < len(args):
            return f"{usage.name} (-m {args[i + 1]})"
        if arg == "-c":
            return f"{usage.name} (-c)"
        if not arg.startswith("-"):
            return f"{usage.name} ({os.path.basename(arg)})"
    return usage.name


class MachineProbe:
    """A Probe of the generator's own machine (not the target's): host CPU, loadlens's
    share of it, and the other processes' CPU over the run."""

    name = "generator-machine"
    kind = "generator-machine"
    target = "the machine loadlens runs on"

    def __init__(self, own_pids: list[int]) -> None:
        # Ours: the coordinator and its workers. A target started with --server is a child
        # too, but it is the target, so it is not in this list.
        self._own = [psutil.Process(pid) for pid in [os.getpid(), *own_pids]]
        self._own_cpu: dict[int, float] = {}
        self._usage: dict[tuple[int, float], _Usage] = {}
        self._started = 0.0
        self._host = (0.0, 0.0)
        self._steal = 0.0
        self._samples = 0

    def start(self) -> None:
        """Baselines: the machine's CPU, ours, and every other process's."""
        self._started = time.monotonic()
        times = psutil.cpu_times()
        self._host = _busy(times)
        self._steal = getattr(times, "steal", 0.0)
        self._own_used()
        self._walk(first=True)

    def sample(self) -> dict[str, Any]:
        """The second since the last call: the machine's busy share and others' part of it."""
        busy, total = _busy(psutil.cpu_times())
        own = self._own_used()
        d_busy, d_total = busy - self._host[0], total - self._host[1]
        self._host = (busy, total)
        self._samples += 1
        if self._samples % WALK_EVERY_S == 0:
            self._walk()
        if d_total <= 0:
            return {"host_cpu_percent": 0.0, "others_cpu_percent": 0.0}
        host = 100 * d_busy / d_total
        # The machine's CPU seconds in this window are d_total; ours are in the same unit.
        others = max(host - 100 * own / d_total, 0.0)
        return {"host_cpu_percent": round(host, 1), "others_cpu_percent": round(others, 1)}

    def summary(self) -> dict[str, Any]:
        """The busiest other processes over the run, and the hypervisor's steal."""
        self._walk()
        elapsed = max(time.monotonic() - self._started, 1e-3)
        busiest = sorted(self._usage.values(), key=lambda u: -u.cpu_s)[:CONTENDERS]
        steal = getattr(psutil.cpu_times(), "steal", 0.0) - self._steal
        return {
            "contenders": [
                {"name": _label(u), "pid": u.pid, "cpu_percent": round(100 * u.cpu_s / elapsed, 1)}
                for u in busiest
                if u.cpu_s > 0
            ],
            "steal_percent": round(100 * steal / elapsed, 1),
        }

    def stop(self) -> None:
        """Nothing to release."""

    def _own_used(self) -> float:
        """CPU seconds loadlens used since the last call."""
        used = 0.0
        for process in self._own:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue  # a worker that has finished
            total = times.user + times.system
            used += total - self._own_cpu.get(process.pid, total)
            self._own_cpu[process.pid] = total
        return max(used, 0.0)

    def _walk(self, first: bool = False) -> None:
        """Add each other process's CPU since the last walk."""
        own = {p.pid for p in self._own}
        for pid, born, name, total in _process_times():
            if pid in own or not pid:
                continue
            key = (pid, born)
            usage = self._usage.get(key)
            if usage is None:
                # Born during the run: all its CPU was used during the run.
                usage = self._usage[key] = _Usage(name, pid, last_total=total if first else 0.0)
            usage.cpu_s += max(total - usage.last_total, 0.0)
            usage.last_total = total


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_times() -> Iterator[tuple[int, float, str, float]]:
    """(pid, start time, name, user + system CPU seconds) of every process.

    On Linux, one read of /proc/PID/stat each: psutil's process_iter with names and times
    reads several files per process through its generic wrappers, ~20 times the cost (a
    walk of 180 processes took 70 ms, in the run's own time). Elsewhere, psutil.
    """
    try:
        pids = [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        pids = []
    if not pids:
        for process in psutil.process_iter(["name", "cpu_times", "create_time"]):
            times = process.info.get("cpu_times")
            if times is not None:
                yield (process.pid, process.info.get("create_time") or 0.0,
                       process.info.get("name") or "?", times.user + times.system)  # fmt: skip
        return
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # gone since the listing
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split at
        # the last ")". After it, utime and stime are fields 12 and 13, starttime 20.
        close = stat.rfind(b")")
        fields = stat[close + 2 :].split()
        name = stat[stat.find(b"(") + 1 : close].decode(errors="replace")
        try:
            cpu = (int(fields[11]) + int(fields[12])) / _TICKS
            yield pid, float(fields[19]), name or "?", cpu
        except (IndexError, ValueError):
            continue


def watch_machine(own_pids: list[int]) -> MonitorSet:
    """A MonitorSet of the generator's machine alone (start it at the run's t0)."""
    return MonitorSet([MachineProbe(own_pids)])
