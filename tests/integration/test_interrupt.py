"""Ctrl-C during a run: exit 130 promptly, and the partial result is still saved."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from support.cli import LoadlensRunner, check_result
from support.target_server import TargetServer

USERS = 2


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("target", ["process", "process-group"])
def test_sigint_saves_an_interrupted_result(
    loadlens: LoadlensRunner, target_server: TargetServer, target: str
) -> None:
    # "process": SIGINT to the CLI only (e.g. `kill -INT`); "process-group": to the CLI
    # and its workers at once, as a terminal's Ctrl-C does.
    proc, out, _cmd = loadlens.start(
        target_server.url("/delay?ms=10"), "-u", str(USERS), "-d", "30s", new_session=True
    )
    launched = time.monotonic()
    try:
        assert target_server.wait_for(lambda s: s.requests_seen > 0, timeout=20), (
            "the run never reached the server"
        )
        time.sleep(max(0.0, 1.5 - (time.monotonic() - launched)) + 0.5)
        interrupted_at = time.monotonic()
        if target == "process":
            proc.send_signal(signal.SIGINT)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            _stdout, stderr = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("loadlens did not exit within 10 s of SIGINT")
        exit_after = time.monotonic() - interrupted_at
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()

    where = f"\nexit {proc.returncode}\nstderr: {stderr[-3000:]}"
    assert proc.returncode == 130, where
    assert "Traceback (most recent call last)" not in stderr, where
    assert exit_after < 5.0, f"took {exit_after:.1f} s to stop" + where
    assert out.exists(), "no result file after SIGINT" + where
    result = check_result(json.loads(out.read_text()))
    assert result["status"] == "interrupted", result["status"]
    totals = result["totals"]
    assert totals["requests"] > 0
    assert totals["failures"] == 0, totals
    # Requests cut off by the interrupt may or may not count, at most one per user.
    target_server.wait_for(lambda s: s.requests_seen >= totals["requests"], timeout=2)
    seen = target_server.requests_by_path["/delay"]
    assert 0 <= seen - totals["requests"] <= USERS, (seen, totals)
    # The result covers the ~2 s that ran, not the 30 s that were planned.
    assert len(result["timeline"]) <= 6, len(result["timeline"])
