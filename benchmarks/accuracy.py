"""Latency accuracy: loadlens against wrk on a target that answers after exactly 50 ms.

The target (`_delay_server.py`, uvloop, core 0) holds every response for the same
time, so any difference between the two generators' percentiles is measurement
overhead or error on the generator side. Both generators run one thread/worker on
core 1, with the same number of keep-alive connections, one after the other.
"""

from __future__ import annotations

import argparse

from _delay_server import run_delay_server
from _loadlens import check_cli, run_loadlens
from _proc import (
    ensure_commands,
    free_port,
    python_executable,
    raise_nofile_limit,
    reexec_in_venv,
    warn_if_busy,
)
from _wrk import run_wrk

GOAL_DIFF_MS = 0.5
GENERATOR_CORE = 1


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-u", "--users", type=int, default=20, help="connections (20)")
    parser.add_argument("-d", "--duration", type=int, default=10, help="seconds per run (10)")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="target delay (50)")
    return parser.parse_args()


def main() -> None:
    """Start the delay target, run wrk then loadlens against it, compare percentiles."""
    reexec_in_venv()
    args = parse_args()
    raise_nofile_limit()
    ensure_commands("wrk", "taskset")
    check_cli()
    warn_if_busy()
    port = free_port()
    url = f"http://127.0.0.1:{port}/delay"
    with run_delay_server(port, args.delay_ms, python_executable(), core=0) as server_pid:
        print(f"target {url} (answers after {args.delay_ms:g} ms, uvloop, core 0)")
        print(f"{args.users} connections, {args.duration} s each, generators on core 1\n")
        wrk = run_wrk(
            url, args.users, args.duration, latency=True, core=GENERATOR_CORE, keep={server_pid}
        )
        lens = run_loadlens(
            url,
            args.users,
            args.duration,
            extra=["--workers", "1"],
            core=GENERATOR_CORE,
            keep={server_pid},
        )
    wrk_p50, wrk_p99 = wrk.percentiles_ms["50"], wrk.percentiles_ms["99"]
    lens_p50, lens_p99 = lens.latency_ms("p50"), lens.latency_ms("p99")
    print(f"{'generator':<10} {'requests':>9} {'errors':>7} {'p50 ms':>9} {'p99 ms':>9}")
    print(f"{'wrk':<10} {wrk.requests:>9} {wrk.errors:>7} {wrk_p50:>9.3f} {wrk_p99:>9.3f}")
    print(
        f"{'loadlens':<10} {lens.requests:>9} {lens.failures:>7} {lens_p50:>9.3f} "
        f"{lens_p99:>9.3f}  (exit {lens.measured.returncode}, {lens.verdict})"
    )
    diff = lens_p50 - wrk_p50
    verdict = "ok" if abs(diff) <= GOAL_DIFF_MS else "outside goal"
    print(f"\np50 diff loadlens - wrk: {diff:+.3f} ms  ({verdict})")
    print(f"p99 diff loadlens - wrk: {lens_p99 - wrk_p99:+.3f} ms")
    print(f"goal: |diff| <= {GOAL_DIFF_MS} ms")


if __name__ == "__main__":
    main()
