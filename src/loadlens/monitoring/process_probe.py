"""A process and all its children, as the target: CPU, memory, threads, files, TCP states."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import psutil

from loadlens.monitoring.probe import ProbeGone

__all__ = ["ProcessTreeProbe", "find_processes"]

_CPUS = os.cpu_count() or 1


def find_processes(name: str) -> list[int]:
    """Pids whose name, or command line, contains `name` (not loadlens, its children, or
    the shells that started it, whose trees hold loadlens itself)."""
    me = psutil.Process()
    own = {me.pid, *(p.pid for p in me.children(recursive=True)), *(p.pid for p in me.parents())}
    found = []
    for process in psutil.process_iter(["pid", "name", "cmdline"]):
        info = process.info
        if info["pid"] in own:
            continue
        cmdline = " ".join(info.get("cmdline") or [])
        if name in (info.get("name") or "") or name in cmdline:
            found.append(int(info["pid"]))
    return found


_TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
    "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
    "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}  # fmt: skip
SLOW_EVERY = 5  # seconds between the costlier readings (socket states, open files)


def tcp_states(ports: set[int]) -> dict[str, int]:
    """Sockets whose local port is one of `ports`, by state, from /proc/net/tcp{,6}.

    One read of the kernel's socket table instead of psutil's per-process walk, which
    maps every socket inode through /proc/PID/fd (10 ms per call at 50 connections).
    """
    counts: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, "rb") as f:
                lines = f.read().split(b"\n")[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split(None, 4)
            if len(fields) < 4:
                continue
            port = int(fields[1].rsplit(b":", 1)[1], 16)
            if port in ports:
                state = _TCP_STATES.get(fields[3].decode(), fields[3].decode())
                counts[state] = counts.get(state, 0) + 1
    return dict(sorted(counts.items()))


class ProcessTreeProbe:
    """The given processes and their descendants, summed as one target.

    CPU comes from each process's own cumulative CPU time, so a second's figure is exact
    for the processes alive at both ends of it; `cores` is CPU seconds per second, and
    `cpu_percent` the share of the whole machine (100 = every core busy).
    """

    kind = "process"

    def __init__(self, pids: list[int], label: str = "") -> None:
        self.name = "process"
        self._roots = list(pids)
        self._label = label
        self._cpu: dict[int, float] = {}  # pid -> cumulative CPU seconds at the last sample
        self._ports: set[int] = set()  # the ports the target listens on
        self._samples = 0
        self._at = 0.0
        self.target = ""

    def _tree(self) -> list[psutil.Process]:
        """The roots and their descendants, each once (a root may be another's child)."""
        processes: dict[int, psutil.Process] = {}
        for pid in self._roots:
            try:
                root = psutil.Process(pid)
                if root.status() == psutil.STATUS_ZOMBIE:
                    continue  # exited; its parent has not collected it yet
                processes.setdefault(root.pid, root)
                for child in root.children(recursive=True):
                    processes.setdefault(child.pid, child)
            except psutil.Error:
                continue
        return list(processes.values())

    def start(self) -> None:
        """Note each process's CPU time so far."""
        tree = self._tree()
        if not tree:
            raise ProbeGone(f"no process {', '.join(map(str, self._roots))}")
        names = sorted({_name(p) for p in tree})
        self.target = (
            f"{self._label or 'pid ' + ', '.join(map(str, self._roots))} "
            f"({', '.join(names)}; {len(tree)} process{'es' if len(tree) != 1 else ''})"
        )
        self._cpu = {}
        for process in tree:
            try:
                self._cpu[process.pid] = _cpu_seconds(process)
            except psutil.Error:
                continue  # exited just now
        self._ports = set()
        for process in tree:
            try:
                self._ports.update(c.laddr.port for c in process.net_connections(kind="tcp")
                                   if c.status == psutil.CONN_LISTEN)  # fmt: skip
            except psutil.Error:
                continue
        self._at = time.monotonic()

    def sample(self) -> dict[str, Any]:
        """CPU over the last second; memory, threads, files and TCP states now."""
        now = time.monotonic()
        elapsed = max(now - self._at, 1e-6)
        self._at = now
        tree = self._tree()
        if not tree:
            raise ProbeGone("the target process exited")
        busy = 0.0
        busiest, busiest_pid = 0.0, 0
        rss = threads = files = 0
        seen: dict[int, float] = {}
        # Open files and socket states cost a walk of every descriptor: every few seconds.
        slow = self._samples % SLOW_EVERY == 0
        self._samples += 1
        for process in tree:
            try:
                with process.oneshot():
                    cpu = _cpu_seconds(process)
                    rss += process.memory_info().rss
                    threads += process.num_threads()
            except psutil.Error:
                continue  # gone
            if slow:
                # Another user's process hides its descriptors unless we are root: CPU
                # and memory still count.
                with contextlib.suppress(psutil.Error):
                    files += process.num_fds()
            # A process born during the second spent all its CPU time in it.
            used = cpu - self._cpu.get(process.pid, 0.0)
            busy += used
            if used > busiest:
                busiest, busiest_pid = used, process.pid
            seen[process.pid] = cpu
        self._cpu = seen
        cores = max(busy, 0.0) / elapsed
        sample: dict[str, Any] = {
            "cores": round(cores, 4),
            "cpu_percent": round(cores / _CPUS * 100, 3),
            # One process can be the bottleneck while the tree looks idle (a GIL-bound app).
            "busiest_cores": round(max(busiest, 0.0) / elapsed, 4),
            "busiest_pid": busiest_pid,
            "rss_mb": round(rss / 2**20, 3),
            "threads": threads,
            "processes": len(seen),
        }
        if slow:
            sample["open_files"] = files
            sample["tcp"] = tcp_states(self._ports)
        return sample

    def stop(self) -> None:
        """Nothing to release."""


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _name(process: psutil.Process) -> str:
    try:
        return str(process.name())
    except psutil.Error:
        return "?"
