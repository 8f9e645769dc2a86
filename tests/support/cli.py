"""Drive ``python -m loadlens run`` as a subprocess and check the result file it writes."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "TRANSPORT_ERROR_KINDS",
    "CliRun",
    "LoadlensRunner",
    "assert_no_traceback",
    "check_result",
]

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"

ERROR_KINDS = {
    "connect-refused",
    "connect-timeout",
    "read-timeout",
    "reset",
    "protocol",
    "http-4xx",
    "http-5xx",
    "tls",
    "connect-error",
    "check-failed",
    "extract-failed",
}
# Failures that still got a response: the status codes count it.
HTTP_ERROR_KINDS = {"http-4xx", "http-5xx", "check-failed", "extract-failed"}
TRANSPORT_ERROR_KINDS = ERROR_KINDS - HTTP_ERROR_KINDS
STAT_KEYS = ("min", "mean", "p50", "p75", "p90", "p95", "p99", "p999", "max")


@dataclass
class CliRun:
    """What one CLI invocation did: exit code, output, the parsed result file, wall time."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    elapsed: float
    result: dict[str, Any] | None

    def describe(self) -> str:
        """A compact account of the run for assertion messages."""
        totals = (self.result or {}).get("totals", {})
        brief = {
            k: totals.get(k)
            for k in ("requests", "failures", "errors", "status_codes", "dropped_iterations")
        }
        return (
            f"\n  cmd: {' '.join(self.args)}\n  exit: {self.returncode} after {self.elapsed:.2f}s"
            f"\n  status/verdict: {(self.result or {}).get('status')}/"
            f"{(self.result or {}).get('verdict')} {(self.result or {}).get('verdict_reasons')}"
            f"\n  totals: {brief}\n  stderr: {self.stderr[-3000:]}"
        )


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    # Keep the run store (~/.loadlens) of test runs out of the developer's home.
    env["HOME"] = str(home)
    env.pop("PYTHONBREAKPOINT", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class LoadlensRunner:
    """Runs ``loadlens run`` in a subprocess with ``--out`` and ``--quiet``, per test."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.home = tmp_path / "home"
        self.home.mkdir(exist_ok=True)
        self._count = 0

    def _out(self) -> Path:
        self._count += 1
        return self.tmp_path / f"run{self._count}.json"

    def command(
        self, *args: str, out: Path | None, quiet: bool = True, prefix: tuple[str, ...] = ()
    ) -> list[str]:
        cmd = [*prefix, sys.executable, "-m", "loadlens", "run", *args]
        if out is not None:
            cmd += ["--out", str(out)]
        if quiet:
            cmd.append("--quiet")
        return cmd

    def run(
        self, *args: str, timeout: float = 60, quiet: bool = True, prefix: tuple[str, ...] = ()
    ) -> CliRun:
        """Run to completion (hard ``timeout``) and load the result file if one was written.

        ``prefix`` goes before the command: ``("taskset", "-c", "1")`` pins loadlens.
        """
        out = self._out()
        cmd = self.command(*args, out=out, quiet=quiet, prefix=prefix)
        start = time.monotonic()
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_env(self.home),
            cwd=self.tmp_path,
            stdin=subprocess.DEVNULL,
        )
        elapsed = time.monotonic() - start
        return CliRun(cmd, proc.returncode, proc.stdout, proc.stderr, elapsed, _load(out))

    def start(
        self, *args: str, new_session: bool = False
    ) -> tuple[subprocess.Popen[str], Path, list[str]]:
        """Start a run in the background; the caller waits (see ``finish``).

        ``new_session`` puts the CLI and its workers in their own process group, so a test
        can signal the group as a terminal's Ctrl-C does.
        """
        out = self._out()
        cmd = self.command(*args, out=out)
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(self.home),
            cwd=self.tmp_path,
            stdin=subprocess.DEVNULL,
            start_new_session=new_session,
        )
        return proc, out, cmd

    @staticmethod
    def finish(
        proc: subprocess.Popen[str], out: Path, cmd: list[str], start: float, timeout: float
    ) -> CliRun:
        """Wait for a started run (killing it, and failing, if it outlives ``timeout``)."""
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            stdout, stderr = proc.communicate()
            raise AssertionError(
                f"loadlens did not exit within {timeout}s: {' '.join(cmd)}\n{stderr[-3000:]}"
            ) from None
        return CliRun(cmd, proc.returncode, stdout, stderr, time.monotonic() - start, _load(out))


def _load(out: Path) -> dict[str, Any] | None:
    if not out.exists():
        return None
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def assert_no_traceback(run: CliRun) -> None:
    """A user-facing failure prints a message, never a Python traceback."""
    for text in (run.stderr, run.stdout):
        assert "Traceback (most recent call last)" not in text, run.describe()


def _close(a: float, b: float, rel: float = 0.02, abs_: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def _check_stats(where: str, stats: dict[str, Any], count: int | None) -> None:
    for key in STAT_KEYS:
        assert key in stats, f"{where} lacks {key}: {stats}"
    if count is not None and "count" in stats:
        assert stats["count"] == count, f"{where}.count {stats['count']} != {count}"
    if (count is None or count > 0) and stats.get("count", 1) > 0:
        values = [float(stats[k]) for k in ("min", "p50", "p75", "p90", "p95", "p99", "p999")]
        # Percentiles never decrease and stay within [min, max] (HDR rounding allowed).
        slack = max(1.0, 0.01 * float(stats["max"]))
        for lo, hi in itertools.pairwise(values):
            assert lo <= hi + slack, f"{where}: percentiles out of order: {stats}"
        assert float(stats["min"]) <= float(stats["mean"]) + slack, f"{where}: {stats}"
        assert float(stats["mean"]) <= float(stats["max"]) + slack, f"{where}: {stats}"
        assert values[-1] <= float(stats["max"]) + slack, f"{where}: {stats}"


def _check_counts(where: str, block: dict[str, Any], checked: bool = False) -> None:
    requests = block["requests"]
    failures = block["failures"]
    errors: dict[str, int] = block["errors"]
    codes: dict[str, int] = block["status_codes"]
    assert set(errors) <= ERROR_KINDS, f"{where}: unknown error kinds {set(errors) - ERROR_KINDS}"
    assert all(v > 0 for v in errors.values()) or not errors, f"{where}: zero entry in {errors}"
    assert sum(errors.values()) == failures, f"{where}: errors {errors} != failures {failures}"
    assert 0 <= failures <= requests, f"{where}: failures {failures} > requests {requests}"
    expected_rate = failures / requests if requests else 0.0
    assert _close(block["error_rate"], expected_rate, abs_=1e-3), (
        f"{where}: error_rate {block['error_rate']} != {failures}/{requests}"
    )
    transport = sum(v for k, v in errors.items() if k in TRANSPORT_ERROR_KINDS)
    responses = sum(codes.values())
    assert responses + transport == requests, (
        f"{where}: {responses} responses {codes} + {transport} transport errors != "
        f"{requests} requests"
    )
    for code in codes:
        assert code.isdigit() and len(code) == 3, f"{where}: odd status code key {code!r}"
    http_4xx = sum(v for k, v in codes.items() if k.startswith("4"))
    http_5xx = sum(v for k, v in codes.items() if k.startswith("5"))
    if not checked and not {"check-failed", "extract-failed"} & set(errors):
        assert errors.get("http-4xx", 0) == http_4xx, f"{where}: {errors} vs {codes}"
        assert errors.get("http-5xx", 0) == http_5xx, f"{where}: {errors} vs {codes}"
    else:  # a status check decides for itself whether a 4xx is a failure
        assert errors.get("http-4xx", 0) <= http_4xx, f"{where}: {errors} vs {codes}"
        assert errors.get("http-5xx", 0) <= http_5xx, f"{where}: {errors} vs {codes}"
    # Timed: every response, and every read timeout (at least that long); not other failures.
    timed = responses + errors.get("read-timeout", 0)
    _check_stats(f"{where}.latency", block["latency"], timed)
    _check_stats(f"{where}.service_time", block["service_time"], timed)


def check_result(result: dict[str, Any] | None) -> dict[str, Any]:
    """Assert a result file is well formed and internally consistent; return it."""
    assert result is not None, "no result file was written"
    assert result["schema"] == "loadlens.run/1"
    for key in (
        "id",
        "name",
        "started_at",
        "ended_at",
        "status",
        "verdict",
        "verdict_reasons",
        "environment",
        "load",
        "totals",
        "endpoints",
        "checks",
        "thresholds",
        "timeline",
        "monitors",
        "generator",
        "findings",
        "histograms",
    ):
        assert key in result, f"result lacks {key!r}"
    assert result["status"] in {"completed", "interrupted", "aborted"}
    assert result["verdict"] in {"valid", "generator-bound", "contended", "inconclusive"}
    assert isinstance(result["verdict_reasons"], list)
    assert result["timing_error_ms"] >= 0, "every run states its timing error"
    for finding in result["findings"]:
        assert isinstance(finding["data"], dict), f"finding {finding['id']} lacks its data"
    assert "executor" in result["load"]
    totals = result["totals"]
    for key in ("rps", "bytes_in", "bytes_out", "dropped_iterations", "iterations"):
        assert key in totals, f"totals lack {key!r}"
    checked = bool(result["checks"])  # a status check may accept a 4xx
    _check_counts("totals", totals, checked)
    endpoints = result["endpoints"]
    if totals["requests"]:
        assert endpoints, "requests were made but no endpoint is listed"
    for ep in endpoints:
        _check_counts(f"endpoint {ep.get('name')}", ep, checked)
    for key in ("requests", "failures", "bytes_in", "bytes_out"):
        assert sum(ep[key] for ep in endpoints) == totals[key], (
            f"endpoints' {key} do not add up to totals"
        )
    timeline = result["timeline"]
    assert sum(row["requests"] for row in timeline) == totals["requests"], (
        f"timeline requests {[row['requests'] for row in timeline]} != {totals['requests']}"
    )
    assert sum(row["failures"] for row in timeline) == totals["failures"]
    assert "overall" in result["histograms"]
    return result
