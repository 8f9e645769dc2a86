"""The verdict on a shared machine: a slow target beside loadlens, judged by the rule
before issue 12 (loop lag over 10 ms = generator-bound) and by today's, on the same runs.

Two slow targets at normal priority, as a developer's own app runs on the laptop that
also runs the test: `connect` (`_connect_app.py`) opens a new PostgreSQL connection per
request (PostgreSQL forks a backend for each), `cpu` (`_cpu_server.py`) burns `--cpu-ms`
of CPU per request, as a scan without its index does. Two rounds each:

- `shared`: neither pinned, loadlens with its default workers: the target takes both cores;
- `pinned`: the target on core 0, loadlens (`--workers 1`) on core 1, as the advice says.

For each it prints the verdict the old rule gives (recomputed from the run's own per-second
health, the same figures it read) and the verdict loadlens gives now, the timing error
against the median latency, and what the workers and the machine reported.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from _connect_app import run_connect_app
from _cpu_server import run_cpu_server
from _loadlens import LoadlensRun, check_cli, run_loadlens
from _proc import ensure_commands, free_port, python_executable, reexec_in_venv, warn_if_busy

OLD_CPU_LIMIT = 90.0
OLD_LAG_LIMIT_MS = 10.0


def old_verdict(result: dict[str, Any]) -> str:
    """The verdict the rule before issue 12 gives these seconds (analysis/verdict.py then)."""
    seconds = result["generator"]["timeline"]
    by_worker: dict[int, list[float]] = {}
    for point in seconds:
        for worker, cpu in enumerate(point["cpu_percent_by_worker"]):
            by_worker.setdefault(worker, []).append(cpu)
    for series in by_worker.values():
        middle = series[1:-1] if len(series) > 2 else series
        run = best = 0
        for cpu in middle:
            run = run + 1 if cpu >= OLD_CPU_LIMIT else 0
            best = max(best, run)
        if middle and best >= min(3, len(middle)):
            return "generator-bound"
    late = sum(1 for p in seconds if p["loop_lag_ms"] > OLD_LAG_LIMIT_MS)
    lag_p99 = float(result["generator"]["loop_lag_p99_ms"])
    if lag_p99 > OLD_LAG_LIMIT_MS and late >= min(2, len(seconds)):
        return "generator-bound"
    if result["totals"]["dropped_iterations"]:
        return "generator-bound"
    return "valid" if sum(result["totals"]["status_codes"].values()) else "inconclusive"


def describe(name: str, run: LoadlensRun) -> None:
    """One round's figures."""
    result = run.result
    seconds = result["generator"]["timeline"][1:-1] or result["generator"]["timeline"]
    error = float(result["timing_error_ms"])
    p50 = run.latency_ms("p50")
    waits = [p["run_delay_ms"] for p in seconds if p.get("run_delay_ms") is not None]
    others = [p["others_cpu_percent"] for p in seconds if p.get("others_cpu_percent") is not None]
    top = result["generator"]["contenders"][:2]
    print(f"\n[{name}] {run.requests:,} requests, {run.failures} failed, "
          f"{result['totals']['rps']:.0f} req/s, p50 {p50:.1f} ms, "
          f"p99 {run.latency_ms('p99'):.1f} ms")  # fmt: skip
    print(f"  verdict before: {old_verdict(result):<16} (loop lag p99 "
          f"{result['generator']['loop_lag_p99_ms']:.1f} ms against a fixed 10 ms)")  # fmt: skip
    print(f"  verdict now:    {result['verdict']:<16} exit {run.measured.returncode}, "
          f"timing error <= {error:.1f} ms = {error / p50:.1%} of the median latency")  # fmt: skip
    for reason in result["verdict_reasons"]:
        print(f"    - {reason}")
    print(f"  workers: CPU peak {max(p['cpu_percent'] for p in seconds):.0f}% of a core; "
          f"waited for a CPU median {statistics.median(waits or [0]):.0f} ms/s, "
          f"peak {max(waits or [0]):.0f} ms/s")  # fmt: skip
    print(
        f"  machine: others used a median {statistics.median(others or [0]):.0f}% of it; "
        "busiest others: "
        + ", ".join(f"{c['name']} pid {c['pid']} {c['cpu_percent']:.0f}%" for c in top)
    )


def main() -> None:
    """Run the two rounds and print what each verdict said."""
    reexec_in_venv()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-u", "--users", type=int, default=50)
    parser.add_argument("-d", "--duration", type=int, default=15, help="seconds per round")
    parser.add_argument("--cpu-ms", type=float, default=10.0, help="CPU per request (10)")
    parser.add_argument("--processes", type=int, default=2, help="cpu target's processes (2)")
    parser.add_argument("--targets", default="connect,cpu",
                        help="connect (a connection per request), cpu (CPU bound)")  # fmt: skip
    args = parser.parse_args()
    ensure_commands("taskset")
    check_cli()
    warn_if_busy()
    python = python_executable()
    print(f"{args.users} users, {args.duration} s per round")
    for target in args.targets.split(","):
        if target == "connect":
            print("\ntarget connect: a new PostgreSQL connection per request (a new cluster)")
        else:
            print(
                f"\ntarget cpu: {args.processes} processes, {args.cpu_ms:g} ms of CPU per request"
            )
        for name, target_core, generator_core, extra in (
            ("shared", None, None, []),
            ("pinned", 0, 1, ["--workers", "1"]),
        ):
            port = free_port()
            server = (
                run_connect_app(port, python, core=target_core)
                if target == "connect"
                else run_cpu_server(port, args.cpu_ms, args.processes, python, core=target_core)
            )
            with server as pids:
                run = run_loadlens(f"http://127.0.0.1:{port}/", args.users, args.duration,
                                   extra=[*extra, "--no-store"], core=generator_core,
                                   keep=set(pids))  # fmt: skip
            describe(f"{target}, {name}", run)


if __name__ == "__main__":
    main()
