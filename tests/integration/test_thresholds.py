"""Thresholds decide the exit code (99 when crossed, as k6) and can abort a run early."""

from __future__ import annotations

import pytest

from support.cli import LoadlensRunner, assert_no_traceback, check_result
from support.target_server import TargetServer

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]


def test_crossed_threshold_exits_99(loadlens: LoadlensRunner, target_server: TargetServer) -> None:
    run = loadlens.run(target_server.url("/delay?ms=20"), "-u", "2", "-d", "1s",
                       "--threshold", "p95<1ms", timeout=30)  # fmt: skip
    assert run.returncode == 99, run.describe()
    assert_no_traceback(run)
    result = check_result(run.result)
    assert result["status"] == "completed"
    (threshold,) = result["thresholds"]
    assert threshold["expression"] == "p95<1ms"
    assert threshold["ok"] is False
    assert threshold["value"] >= 20.0
    assert threshold["value"] == pytest.approx(result["totals"]["latency"]["p95"], rel=0.01)


def test_held_thresholds_exit_0(loadlens: LoadlensRunner, target_server: TargetServer) -> None:
    run = loadlens.run(target_server.url("/delay?ms=20"), "-u", "2", "-d", "1s",
                       "--threshold", "p95<500ms", "--threshold", "error_rate<1%",
                       timeout=30)  # fmt: skip
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    assert [t["expression"] for t in result["thresholds"]] == ["p95<500ms", "error_rate<1%"]
    assert all(t["ok"] for t in result["thresholds"]), result["thresholds"]


def test_one_crossed_among_several(loadlens: LoadlensRunner, target_server: TargetServer) -> None:
    run = loadlens.run(target_server.url("/status?code=503"), "-u", "1", "-i", "5",
                       "--threshold", "p99<2s", "--threshold", "error_rate<10%",
                       timeout=30)  # fmt: skip
    assert run.returncode == 99, run.describe()
    result = check_result(run.result)
    oks = {t["expression"]: t["ok"] for t in result["thresholds"]}
    assert oks == {"p99<2s": True, "error_rate<10%": False}
    error_rate = next(t for t in result["thresholds"] if t["expression"] == "error_rate<10%")
    assert error_rate["value"] == pytest.approx(1.0)


def test_abort_on_fail_stops_early(loadlens: LoadlensRunner, target_server: TargetServer) -> None:
    run = loadlens.run(target_server.url("/delay?ms=20"), "-u", "2", "-d", "30s",
                       "--threshold", "p95<1ms", "--abort-on-fail", timeout=45)  # fmt: skip
    assert run.returncode == 99, run.describe()
    result = check_result(run.result)
    assert result["status"] == "aborted", run.describe()
    assert result["thresholds"][0]["ok"] is False
    assert result["totals"]["requests"] > 0
    assert run.elapsed < 12, f"a 30 s run took {run.elapsed:.1f} s to abort"
    target_server.wait_for(lambda s: s.requests_seen >= result["totals"]["requests"], timeout=2)
    assert 0 <= target_server.requests_seen - result["totals"]["requests"] <= 2
