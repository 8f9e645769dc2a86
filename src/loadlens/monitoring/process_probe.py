"""A process and all its children, as the target: CPU, memory, threads, files, TCP states."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
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


@dataclass(slots=True)
class _Seen:
    """One process of the tree as read at the last sample."""

    process: psutil.Process  # kept, so the next sample reads the same process, not its pid
    own: float  # its own CPU seconds so far (user + system, all its threads)
    reaped: float  # CPU seconds of the children it has waited for (children_user + _system)
    descendant: bool  # its parent is in the tree, so its CPU lands in the tree's `reaped`

    @property
    def total(self) -> float:
        """What the kernel adds to its parent's `reaped` when the parent waits for it."""
        return self.own + self.reaped


class ProcessTreeProbe:
    """The given processes and their descendants, summed as one target.

    CPU comes from each process's own cumulative CPU time, plus the CPU time of the
    children it has waited for, so a child that lives and dies between two samples (a
    worker forked per request, a CGI-like target) still counts; `cores` is CPU seconds per
    second, and `cpu_percent` the share of the whole machine (100 = every core busy).
    """

    kind = "process"

    def __init__(self, pids: list[int], label: str = "") -> None:
        self.name = "process"
        self._pids = list(pids)
        self._roots: list[psutil.Process] = []
        self._label = label
        # By process, not pid: psutil.Process hashes and compares by pid and creation
        # time, so a pid reused by a new process between two samples is a new key, never
        # a delta against another process's CPU time. (On Linux that creation time is in
        # ticks since boot; Process.create_time() adds the wall-clock boot time, and a
        # clock step would make every process look new and count all its CPU time at once.)
        self._known: dict[psutil.Process, _Seen] = {}
        self._carried = 0.0  # reaped CPU taken off before it arrived (see sample)
        self._ports: set[int] = set()  # the ports the target listens on
        self._samples = 0
        self._at = 0.0
        self.target = ""

    def _tree(self) -> dict[psutil.Process, bool]:
        """The live roots and their descendants, each once, and whether its parent is in the
        tree (a root may be another's child)."""
        tree: dict[psutil.Process, bool] = {}
        for root in self._roots:
            try:
                if root.status() == psutil.STATUS_ZOMBIE:
                    continue  # exited; its parent has not collected it yet
                children = root.children(recursive=True)  # raises if its pid was reused
            except psutil.Error:
                continue
            tree.setdefault(root, False)
            for child in children:
                tree[child] = True
        return tree

    def start(self) -> None:
        """Note each process's CPU time so far."""
        self._roots = []
        for pid in self._pids:
            with contextlib.suppress(psutil.Error):
                self._roots.append(psutil.Process(pid))
        tree = self._tree()
        if not tree:
            raise ProbeGone(f"no process {', '.join(map(str, self._pids))}")
        names = sorted({_name(p) for p in tree})
        self.target = (
            f"{self._label or 'pid ' + ', '.join(map(str, self._pids))} "
            f"({', '.join(names)}; {len(tree)} process{'es' if len(tree) != 1 else ''})"
        )
        self._known = {}
        for process, descendant in tree.items():
            try:
                self._known[process] = _read(process, descendant)
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
        own = reaped = 0.0
        busiest, busiest_pid = 0.0, 0
        rss = threads = files = 0
        seen: dict[psutil.Process, _Seen] = {}
        # Open files and socket states cost a walk of every descriptor: every few seconds.
        slow = self._samples % SLOW_EVERY == 0
        self._samples += 1
        for found, descendant in tree.items():
            last = self._known.get(found)
            process = last.process if last else found
            try:
                with process.oneshot():
                    current = _read(process, descendant)
                    rss += process.memory_info().rss
                    threads += process.num_threads()
            except psutil.Error:
                continue  # gone
            if slow:
                # Another user's process hides its descriptors unless we are root: CPU
                # and memory still count.
                with contextlib.suppress(psutil.Error):
                    files += process.num_fds()
            # A process born during the second spent all its CPU time in it, and so did
            # the children it has waited for.
            used = current.own - (last.own if last else 0.0)
            own += used
            reaped += current.reaped - (last.reaped if last else 0.0)
            if used > busiest:
                busiest, busiest_pid = used, process.pid
            seen[process] = current
        # `reaped` holds whole lifetimes: a child that ran and exited within the second,
        # which no sample saw, but also one that an earlier sample saw and counted up to
        # then. So take off the total last seen of each process that has gone since, if its
        # parent was in the tree (the one that waits for it): what remains of it is the
        # CPU it used after that sample. A process still running has only left the tree
        # (orphaned, it went to init), and its CPU never lands in the tree's `reaped`.
        # A child reaped while this loop reads the tree may be counted in one sample and
        # taken off in the next (or the other way round): a negative remainder is carried
        # into the next sample, so the sum over the two is right. Children
        # that nobody waits for (SIGCHLD ignored) leave no trace and are still missed.
        gone = sum(
            last.total
            for process, last in self._known.items()
            if last.descendant and process not in seen and _exited(process)
        )
        self._known = seen
        after_reaped = reaped - gone + self._carried
        self._carried = min(after_reaped, 0.0)
        cores = (max(own, 0.0) + max(after_reaped, 0.0)) / elapsed
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


def _read(process: psutil.Process, descendant: bool) -> _Seen:
    times = process.cpu_times()
    return _Seen(
        process,
        own=float(times.user + times.system),
        reaped=float(times.children_user + times.children_system),
        descendant=descendant,
    )


def _exited(process: psutil.Process) -> bool:
    try:
        return not process.is_running()
    except psutil.Error:
        return True


def _name(process: psutil.Process) -> str:
    try:
        return str(process.name())
    except psutil.Error:
        return "?"
