"""Soak: steady load for ten minutes, loadlens's memory and open files sampled as it goes.

A load tester that leaks (a list that grows per request, a connection never closed, a
histogram kept per second forever) bends every long run's numbers and finally falls over.
This runs `loadlens run URL -u 200 -d 600s --workers 2` against nginx (core 0), samples
every 10 s the resident memory (RSS) and open file descriptors of the loadlens process
tree (coordinator and workers, apart and summed), and prints the curve, then the growth
from the end of the warm-up (60 s: connections opened, pools and arenas filled) to the end.
Goal (issue 14): under 5% for both.

The run stores nothing (`--no-store`) and writes its result to a temp file, from which the
request count and verdict are printed beside the curve.

    python benchmarks/soak.py [--duration 600] [--users 200] [--workers 2] [--every 10]
                              [--warmup 60]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from _loadlens import check_cli, loadlens_command
from _nginx import run_nginx
from _proc import ensure_commands, raise_nofile_limit, reexec_in_venv, stop, warn_if_busy

GOAL_GROWTH = 0.05


@dataclass(frozen=True)
class Sample:
    """One look at the loadlens process tree."""

    t: float  # seconds since the run started
    rss_parent: int
    rss_workers: int
    fds: int

    @property
    def rss(self) -> int:
        """The whole tree's resident memory, bytes."""
        return self.rss_parent + self.rss_workers


def sample(pid: int, t: float) -> Sample | None:
    """RSS and open fds of `pid` and its descendants; None once it has exited."""
    try:
        root = psutil.Process(pid)
        workers = root.children(recursive=True)
        parent_rss, fds = root.memory_info().rss, root.num_fds()
    except psutil.NoSuchProcess:
        return None
    worker_rss = 0
    for worker in workers:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            worker_rss += worker.memory_info().rss
            fds += worker.num_fds()
    return Sample(t, parent_rss, worker_rss, fds)


def growth(before: float, after: float) -> float:
    """Relative change from `before` to `after`."""
    return (after - before) / before if before else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=600, help="seconds of load (600)")
    parser.add_argument("--users", type=int, default=200, help="closed-model users (200)")
    parser.add_argument("--workers", type=int, default=2, help="loadlens workers (2)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the baseline")
    args = parser.parse_args()
    ensure_commands("nginx")
    check_cli()
    raise_nofile_limit()
    warn_if_busy()
    with run_nginx(core=0) as nginx, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = loadlens_command(
            nginx.url, args.users, f"{args.duration}s",
            ["--workers", str(args.workers), "--no-store", "--out", str(out)],
        )  # fmt: skip
        print(f"target {nginx.url} (nginx, core 0); {' '.join(command[2:])}\n", flush=True)
        print(f"{'t s':>6} {'RSS MB':>8} {'parent':>8} {'workers':>8} {'fds':>6}", flush=True)
        started = time.monotonic()
        process = subprocess.Popen(command, preexec_fn=raise_nofile_limit)
        samples: list[Sample] = []
        try:
            while process.poll() is None:
                time.sleep(args.every - (time.monotonic() - started) % args.every)
                taken = sample(process.pid, time.monotonic() - started)
                if taken is None or process.poll() is not None:
                    break
                samples.append(taken)
                print(f"{taken.t:6.0f} {taken.rss / 2**20:8.1f} {taken.rss_parent / 2**20:8.1f} "
                      f"{taken.rss_workers / 2**20:8.1f} {taken.fds:6d}", flush=True)  # fmt: skip
            code = process.wait(timeout=args.duration + 120)
        finally:
            stop(process)  # (only if something above went wrong: the run ends by itself)
        result = json.loads(out.read_text()) if out.exists() else {}
    totals = result.get("totals", {})
    print(f"\nexit {code}, verdict {result.get('verdict', '?')}, "
          f"{totals.get('requests', 0):,} requests, {totals.get('rps', 0):,.0f}/s")  # fmt: skip
    steady = [s for s in samples if s.t >= args.warmup]
    if len(steady) < 2:
        print("too few samples after the warm-up to judge growth")
        return
    first, last = steady[0], steady[-1]
    peak = max(steady, key=lambda s: s.rss)
    for label, before, after in (
        ("RSS", first.rss / 2**20, last.rss / 2**20),
        ("open fds", float(first.fds), float(last.fds)),
    ):
        change = growth(before, after)
        verdict = "ok" if change < GOAL_GROWTH else "above goal"
        print(f"{label} from {first.t:.0f} s to {last.t:.0f} s: {before:,.1f} -> {after:,.1f} "
              f"({change:+.1%}; goal < {GOAL_GROWTH:.0%}: {verdict})")  # fmt: skip
    print(f"RSS peak after the warm-up {peak.rss / 2**20:,.1f} MB at {peak.t:.0f} s")


if __name__ == "__main__":
    reexec_in_venv()
    main()
