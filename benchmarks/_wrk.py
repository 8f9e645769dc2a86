"""Running wrk as a measured child and reading its text report."""

from __future__ import annotations

import re
from dataclasses import dataclass

from _proc import Measured, ensure_commands, pinned, run_measured

_REQUESTS = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_PERCENTILE = re.compile(r"^\s*([\d.]+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_MS_PER_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


@dataclass(frozen=True)
class WrkRun:
    """One finished wrk run: the process as measured and what its report says."""

    measured: Measured
    requests: int
    rps: float
    errors: int
    percentiles_ms: dict[str, float]


def parse_percentiles(report: str) -> dict[str, float]:
    """The `--latency` distribution ("50%  50.12ms") as {"50": 50.12} in milliseconds."""
    return {
        f"{float(pct):g}": float(value) * _MS_PER_UNIT[unit]
        for pct, value, unit in _PERCENTILE.findall(report)
    }


def parse_errors(report: str) -> int:
    """Socket errors plus non-2xx/3xx responses reported by wrk."""
    errors = sum(int(n) for n in m.groups()) if (m := _ERRORS.search(report)) else 0
    return errors + (int(n.group(1)) if (n := _NON_2XX.search(report)) else 0)


def run_wrk(
    url: str,
    connections: int,
    duration_s: int,
    *,
    latency: bool = False,
    core: int | None = None,
    keep: set[int] | None = None,
) -> WrkRun:
    """Run `wrk -t1 -cN -dDs [--latency] URL` to completion (pinned to `core` if given)."""
    ensure_commands("wrk", "taskset")
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration_s}s"]
    command += ["--latency", url] if latency else [url]
    measured = run_measured(pinned(command, core), timeout=duration_s + 60, keep=keep)
    found = _REQUESTS.search(measured.stdout)
    if measured.returncode != 0 or found is None:
        raise RuntimeError(f"wrk exited {measured.returncode}:\n{measured.stdout}{measured.stderr}")
    return WrkRun(
        measured=measured,
        requests=int(found.group(1)),
        rps=float(m.group(1)) if (m := _RPS.search(measured.stdout)) else 0.0,
        errors=parse_errors(measured.stdout),
        percentiles_ms=parse_percentiles(measured.stdout),
    )
