"""The machine the target runs on: CPU by kind, memory, load, network, disk, pressure."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import psutil

__all__ = ["HostProbe"]

_PRESSURE = Path("/proc/pressure")


def _pressure_totals() -> dict[str, float]:
    """Cumulative stall microseconds ("some" tasks waiting) for cpu, memory and io."""
    totals = {}
    for resource in ("cpu", "memory", "io"):
        try:
            for line in (_PRESSURE / resource).read_text().splitlines():
                if line.startswith("some"):
                    totals[resource] = float(line.rsplit("total=", 1)[1])
        except (OSError, IndexError, ValueError):
            continue
    return totals


class HostProbe:
    """This machine, as psutil and /proc see it."""

    name = "host"
    kind = "host"

    def __init__(self) -> None:
        self.target = f"{os.uname().nodename} ({os.cpu_count()} CPUs)"
        self._at = 0.0
        self._net: Any = None
        self._disk: Any = None
        self._pressure: dict[str, float] = {}
        self._own: dict[psutil.Process, float] = {}  # CPU seconds so far, by process

    def _own_cpu(self) -> float:
        """CPU seconds used since the last call by loadlens itself (this process and its
        workers), so a reader can tell the host's load from the generator's."""
        me = psutil.Process()
        group = os.getpgid(0)
        used, seen = 0.0, {}
        for process in [me, *me.children(recursive=True)]:
            try:
                # A target loadlens started (--server) is its child too, but in a process
                # group of its own: only the workers share loadlens's.
                if os.getpgid(process.pid) != group:
                    continue
                times = process.cpu_times()
            except (psutil.Error, ProcessLookupError):
                continue
            total = times.user + times.system
            seen[process] = total
            used += total - self._own.get(process, total if not self._own else 0.0)
        self._own = seen
        return max(used, 0.0)

    def start(self) -> None:
        """Baselines for the per-second rates."""
        psutil.cpu_times_percent(interval=None)
        self._net = psutil.net_io_counters()
        self._disk = psutil.disk_io_counters()
        self._pressure = _pressure_totals()
        self._own_cpu()
        self._at = time.monotonic()

    def sample(self) -> dict[str, Any]:
        """The second since the last sample."""
        now = time.monotonic()
        elapsed = max(now - self._at, 1e-6)
        self._at = now
        cpu = psutil.cpu_times_percent(interval=None)
        memory = psutil.virtual_memory()
        net, disk = psutil.net_io_counters(), psutil.disk_io_counters()
        out: dict[str, Any] = {
            "cpu_percent": round(100.0 - cpu.idle, 2),
            "cpu_user": cpu.user,
            "cpu_system": cpu.system,
            "cpu_iowait": getattr(cpu, "iowait", 0.0),
            "cpu_steal": getattr(cpu, "steal", 0.0),
            "memory_used_mb": round((memory.total - memory.available) / 2**20, 1),
            "memory_percent": memory.percent,
            "load_1m": os.getloadavg()[0],
            # The host's CPU includes the load generator's when both share the machine.
            "loadlens_cpu_percent": round(
                100 * self._own_cpu() / elapsed / (os.cpu_count() or 1), 2
            ),
        }
        if net is not None and self._net is not None:
            out["net_sent_mb_s"] = round(
                (net.bytes_sent - self._net.bytes_sent) / 2**20 / elapsed, 4
            )
            out["net_recv_mb_s"] = round(
                (net.bytes_recv - self._net.bytes_recv) / 2**20 / elapsed, 4
            )
        if disk is not None and self._disk is not None:
            out["disk_read_mb_s"] = round(
                (disk.read_bytes - self._disk.read_bytes) / 2**20 / elapsed, 4
            )
            out["disk_write_mb_s"] = round(
                (disk.write_bytes - self._disk.write_bytes) / 2**20 / elapsed, 4
            )
        self._net, self._disk = net, disk
        pressure = _pressure_totals()
        for resource, total in pressure.items():
            before = self._pressure.get(resource)
            if before is not None:
                # Share of the second in which some task stalled on the resource (PSI).
                out[f"pressure_{resource}_percent"] = round(
                    (total - before) / 1e6 / elapsed * 100, 2
                )
        self._pressure = pressure
        return out

    def stop(self) -> None:
        """Nothing to release."""
