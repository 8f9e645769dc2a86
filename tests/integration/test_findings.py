"""Diagnosis against targets with one bottleneck planted each: the right finding, with its
evidence, fires; none fires against a healthy, unsaturated target."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from support.cli import LoadlensRunner, check_result

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

PLANTED = Path(__file__).resolve().parents[1] / "support" / "planted_server.py"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(loadlens: LoadlensRunner, mode: str, *load: str) -> dict[str, Any]:
    port = _port()
    server = f"{sys.executable} {PLANTED} {mode} {port}"
    run = loadlens.run(f"http://127.0.0.1:{port}/", *load, "--server", server, "--workers", "1",
                       timeout=90)  # fmt: skip
    assert run.returncode in (0, 99), run.describe()
    return check_result(run.result)


def _ids(result: dict[str, Any]) -> list[str]:
    return [f["id"] for f in result["findings"]]


def test_a_healthy_target_gets_no_finding(loadlens: LoadlensRunner) -> None:
    result = _run(loadlens, "healthy", "--rate", "100/s", "-d", "5s")
    assert result["findings"] == [], result["findings"]
    # Its Server-Timing header is read, all of it app time and too little to matter.
    timing = result["endpoints"][0]["server_timing"]
    assert list(timing) == ["app"] and timing["app"]["count"] == result["totals"]["requests"]


def test_a_cpu_bound_single_process_is_found(loadlens: LoadlensRunner) -> None:
    result = _run(loadlens, "cpu", "-u", "8", "-d", "6s")
    assert "target-cpu-saturated" in _ids(result), result["findings"]
    finding = result["findings"][_ids(result).index("target-cpu-saturated")]
    assert "one process (pid" in finding["evidence"] and "of a core" in finding["evidence"]
    assert "worker processes" in finding["suggestion"]
    assert "target-waiting" not in _ids(result)


def test_a_lock_of_one_is_found_as_a_concurrency_limit_of_one(loadlens: LoadlensRunner) -> None:
    """One request at a time behind a lock, the CPU idle: Little's law names the limit,
    which says more than "waiting" (the target-waiting finding gives way to it)."""
    result = _run(loadlens, "wait", "-u", "8", "-d", "6s")
    assert _ids(result) == ["concurrency-limit"], result["findings"]
    finding = result["findings"][0]
    assert 0.7 <= finding["data"]["concurrency"] <= 1.3, finding["data"]
    assert "while 8 wait" in finding["title"] and "CPU had room" in finding["evidence"]


def test_waiting_with_an_idle_cpu_is_found(loadlens: LoadlensRunner) -> None:
    """Slow responses of varied length (a slow downstream), no fixed limit: waiting."""
    result = _run(loadlens, "slow", "-u", "8", "-d", "6s")
    assert _ids(result) == ["target-waiting"], result["findings"]
    evidence = result["findings"][0]["evidence"]
    assert "p95" in evidence and "requests in flight" in evidence


def test_a_memory_leak_is_found(loadlens: LoadlensRunner) -> None:
    result = _run(loadlens, "leak", "--rate", "150/s", "-d", "6s")
    assert "memory-growth" in _ids(result), result["findings"]
    finding = result["findings"][_ids(result).index("memory-growth")]
    assert "RSS" in finding["evidence"] and "KiB per request" in finding["evidence"]


def test_a_connection_per_request_is_found(loadlens: LoadlensRunner) -> None:
    result = _run(loadlens, "close", "--rate", "150/s", "-d", "4s")
    assert _ids(result) == ["new-connection-per-request"], result["findings"]
    assert "connections" in result["findings"][0]["evidence"]


def test_a_throughput_ceiling_and_the_latency_knee_are_found(loadlens: LoadlensRunner) -> None:
    # One request at a time, 40 ms each: 25 req/s whatever the users; ramp 0 -> 16 users.
    result = _run(loadlens, "wait", "--stages", "10s:16")
    ids = _ids(result)
    assert "throughput-ceiling" in ids and "latency-knee" in ids, result["findings"]
    ceiling = result["findings"][ids.index("throughput-ceiling")]
    assert "users went from" in ceiling["evidence"] and "req/s" in ceiling["title"]
    assert (
        "Latency left its baseline at about"
        in result["findings"][ids.index("latency-knee")]["title"]
    )


def test_errors_that_surge_with_the_load_are_found(loadlens: LoadlensRunner) -> None:
    result = _run(loadlens, "pool", "--stages", "9s:20")
    ids = _ids(result)
    assert "error-surge" in ids, result["findings"]
    finding = result["findings"][ids.index("error-surge")]
    assert "http-5xx" in finding["evidence"] and "CPU stayed low" in finding["suggestion"]


def test_database_time_from_server_timing_is_found(loadlens: LoadlensRunner) -> None:
    result = _run(loadlens, "db", "-u", "8", "-d", "5s")
    endpoint = result["endpoints"][0]
    timing = endpoint["server_timing"]
    assert set(timing) == {"db", "app"}, timing
    db = timing["db"]
    assert db["count"] == endpoint["requests"]
    assert 30 <= db["mean_ms"] < 60 and db["max_ms"] >= db["mean_ms"]
    assert 0.5 < db["share"] <= 1.05 and timing["app"]["share"] < 0.2, timing
    assert _ids(result) == ["database-time-dominates"], result["findings"]
    finding = result["findings"][0]
    assert finding["severity"] == "medium"  # p95 ~35 ms: the database dominates a fast request
    assert "db" in finding["evidence"] and "of its mean service time" in finding["evidence"]
    assert "EXPLAIN" in finding["suggestion"]
