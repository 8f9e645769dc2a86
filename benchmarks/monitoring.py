"""What monitoring costs the load generator: requests per CPU-second with and without it.

nginx (1 worker) on core 0; loadlens (--workers 1) on core 1, 50 users, taking turns over
several rounds: once plain, once with `--monitor-pid <nginx> --monitor host` (the target's
process tree and the host sampled every second, in a thread of loadlens's coordinator).
CPU seconds are those of loadlens's whole process tree, so the monitor thread is counted.
Goal: monitoring costs under 2% of the requests per CPU-second.

Two measures, printed side by side:
- accounted: the CPU time the monitor thread itself spent (each probe call is timed with
  the thread's own CPU clock; the result's `monitors.*.cpu_ms`), over the CPU loadlens's
  process tree used in the same run. Exact, and what the goal is judged on.
- A/B: 1 - (req/CPU-s monitored) / (req/CPU-s plain), paired by round. It also catches
  indirect costs (cache, scheduling) but the VM's drift between runs is of the same size as
  the effect, so its spread is printed with it.
"""

from __future__ import annotations

import argparse
import statistics

from _loadlens import check_cli, run_loadlens
from _nginx import run_nginx
from _proc import ensure_commands, raise_nofile_limit, reexec_in_venv, warn_if_busy

GOAL_COST = 0.02
CORE = 1


def main() -> None:
    """Run both variants in turns, print each round and the cost."""
    reexec_in_venv()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (10)")
    parser.add_argument("--rounds", type=int, default=5, help="turns each variant takes (5)")
    parser.add_argument("--users", type=int, default=50, help="concurrent users (50)")
    args = parser.parse_args()
    raise_nofile_limit()
    ensure_commands("nginx", "taskset")
    check_cli()
    warn_if_busy()
    plain: list[float] = []
    monitored: list[float] = []
    accounted: list[float] = []
    with run_nginx(core=0) as nginx:
        watch = ["--monitor-pid", str(nginx.pid), "--monitor", "host"]
        print(f"target {nginx.url}; loadlens --workers 1 on core {CORE}, {args.users} users, "
              f"{args.duration} s per run, {args.rounds} rounds\n")  # fmt: skip
        header = f"{'round':>5} {'variant':<10} {'requests':>10} {'CPU s':>7} {'req/CPU-s':>10}"
        print(f"{header}  monitor samples")
        for round_no in range(args.rounds):
            variants = [("plain", []), ("monitored", watch)]
            if round_no % 2:
                variants.reverse()  # the machine's drift hits both alike
            for name, extra in variants:
                run = run_loadlens(nginx.url, args.users, args.duration,
                                   extra=["--workers", "1", "--no-store", *extra], core=CORE,
                                   keep={nginx.pid})  # fmt: skip
                per_cpu = run.requests / run.measured.cpu_s if run.measured.cpu_s else 0.0
                (monitored if extra else plain).append(per_cpu)
                monitors = run.result["monitors"]
                samples = {k: len(v.get("timeline", [])) for k, v in monitors.items()}
                spent = sum(float(v.get("cpu_ms", 0.0)) for v in monitors.values()) / 1000
                if extra and run.measured.cpu_s:
                    accounted.append(spent / run.measured.cpu_s)
                detail = (f"{samples}, monitor thread {spent * 1000:.0f} ms CPU"
                          if monitors else "-")  # fmt: skip
                print(f"{round_no + 1:>5} {name:<10} {run.requests:>10} {run.measured.cpu_s:>7.2f} "
                      f"{per_cpu:>10.0f}  {detail}")  # fmt: skip
    rounds = [1 - m / p for m, p in zip(monitored, plain, strict=True) if p]
    cost = max(accounted, default=0.0)
    verdict = "ok" if cost < GOAL_COST else "above goal"
    print(f"\nmonitoring cost, accounted: {statistics.median(accounted):.2%} of loadlens's CPU, "
          f"median of rounds; worst {cost:.2%}  ({verdict})")  # fmt: skip
    print(f"monitoring cost, A/B: {statistics.median(rounds):+.1%} of requests per CPU-second, "
          f"median of rounds ({', '.join(f'{r:+.1%}' for r in rounds)}; "
          f"spread {min(rounds):+.1%}..{max(rounds):+.1%}, the machine's drift)")  # fmt: skip
    print(f"goal: < {GOAL_COST:.0%}")


if __name__ == "__main__":
    main()
