"""The target's CPU: saturated (it is the bottleneck), or idle while requests wait."""

from __future__ import annotations

import statistics
from typing import Any

from loadlens.analysis.findings.concurrency_limit import concurrency_limit
from loadlens.analysis.findings.series import is_slow, middle, slow_limit_ms, target_monitor
from loadlens.metrics.run_result import Finding, RunResult

__all__ = ["target_cpu_idle_while_slow", "target_cpu_saturated"]

SATURATED = 0.9  # of a core for one process, or of the machine for the whole tree
SUSTAINED_S = 3


def target_cpu_saturated(result: RunResult) -> Finding | None:
    """The target used all the CPU it could for a sustained part of the run."""
    found = target_monitor(result)
    if found is None:
        return None
    name, monitor = found
    samples = middle(monitor["timeline"])
    single = [p for p in samples if p.get("busiest_cores", 0.0) >= SATURATED]
    machine = [p for p in samples if p.get("cpu_percent", 0.0) >= SATURATED * 100]
    hot = machine if len(machine) >= len(single) else single
    if len(hot) < max(SUSTAINED_S, len(samples) // 2):
        return None
    seconds = f"{len(hot)} of {len(samples)} seconds (t={hot[0]['t']}..{hot[-1]['t']} s)"
    data: dict[str, Any] = {"monitor": name, "hot_seconds": len(hot), "seconds": len(samples),
                            "from_s": hot[0]["t"], "to_s": hot[-1]["t"]}  # fmt: skip
    if hot is machine:
        avg = statistics.fmean(p["cpu_percent"] for p in hot)
        data |= {"machine_cpu_percent": round(avg, 1), "rps": round(result.totals.rps, 1)}
        evidence = (f"{monitor['target']} used {avg:.0f}% of the machine's CPU in {seconds}, "
                    f"at {result.totals.rps:,.0f} req/s")  # fmt: skip
        suggestion = ("The target is CPU-bound: profile its hot path (serialisation, "
                      "templating, hashing, ORM overhead), cache what is computed again and "
                      "again, or add instances behind a load balancer.")  # fmt: skip
    else:
        pids = sorted({p["busiest_pid"] for p in hot})
        cores = statistics.fmean(p["busiest_cores"] for p in hot)
        machine_pct = statistics.fmean(p["cpu_percent"] for p in hot)
        data |= {"pids": pids, "cores": round(cores, 3),
                 "machine_cpu_percent": round(machine_pct, 1)}  # fmt: skip
        evidence = (f"one process (pid {', '.join(map(str, pids))}) of {monitor['target']} "
                    f"used {cores:.2f} of a core in {seconds}, while the whole machine was at "
                    f"{machine_pct:.0f}%")  # fmt: skip
        suggestion = ("A single process at one full core is a single-threaded or GIL-bound "
                      "server: run more worker processes (e.g. gunicorn -w N, uvicorn "
                      "--workers N) or more instances, then profile its hot path.")  # fmt: skip
    return Finding(id="target-cpu-saturated", severity="high",
                   title=f"The target's CPU is saturated ({name})", evidence=evidence,
                   suggestion=suggestion, data=data)  # fmt: skip


def target_cpu_idle_while_slow(result: RunResult) -> Finding | None:
    """Requests were slow while the target's CPU had room: it waited on something."""
    found = target_monitor(result)
    if found is None:
        return None
    _, monitor = found
    samples = middle(monitor["timeline"])
    if len(samples) < SUSTAINED_S:
        return None
    cpu = statistics.median(p.get("cpu_percent", 0.0) for p in samples)
    busiest = statistics.median(p.get("busiest_cores", 0.0) for p in samples)
    latency = result.totals.latency
    # Slow for most of the run, not just in a burst at its start (users all arriving at once).
    seconds = middle(result.timeline)
    limit = slow_limit_ms(result)
    sustained = sum(p.latency.get("p95", 0.0) >= limit for p in seconds) >= len(seconds) / 2
    if not is_slow(result) or not sustained or cpu >= 50 or busiest >= 0.5:
        return None
    if concurrency_limit(result) is not None:
        return None  # what it waits for is known: a pool of a fixed size
    in_flight = statistics.median(p.in_flight for p in result.timeline) if result.timeline else 0
    return Finding(
        id="target-waiting",
        severity="high",
        title="Requests are slow while the target's CPU is idle: it is waiting on something",
        evidence=(
            f"p95 {latency.p95:.0f} ms, p50 {latency.p50:.0f} ms, with a median of "
            f"{in_flight:.0f} requests in flight, while {monitor['target']} used a median "
            f"{cpu:.0f}% of the machine's CPU (busiest process {busiest:.2f} cores)"
        ),
        suggestion=(
            "The time goes to waiting, not computing: a database query (a missing "
            "index, a lock), a connection pool or worker pool that is too small, a "
            "slow downstream call, or a lock in the app. Look at the database and at "
            "pool sizes; `--monitor postgresql://...` shows the database side."
        ),
        data={
            "p95_ms": round(latency.p95, 3),
            "p50_ms": round(latency.p50, 3),
            "in_flight": in_flight,
            "target_cpu_percent": round(cpu, 1),
            "busiest_cores": round(busiest, 3),
        },
    )
