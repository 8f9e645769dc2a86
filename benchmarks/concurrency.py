"""Memory of loadlens holding 10,000 concurrent keep-alive users against a local nginx.

Every 0.5 s the resident set size of the whole loadlens process tree (the CLI process
and all its descendants, summed) is sampled, and so is the number of open file
descriptors of the nginx worker, which shows how many connections were really held.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from _loadlens import check_cli, run_loadlens
from _nginx import run_nginx
from _proc import (
    children_fd_count,
    ensure_commands,
    raise_nofile_limit,
    reexec_in_venv,
    tree_rss,
    warn_if_busy,
)

GOAL_MIB = 400
MIB = 1024 * 1024
# Sockets the target and the generator each need beyond one per user.
FD_HEADROOM = 200


@dataclass
class TreeSampler:
    """Samples the summed RSS of a process tree and the target's open descriptors."""

    target_pid: int
    rss: list[int] = field(default_factory=list)
    target_fds: list[int] = field(default_factory=list)

    def __call__(self, pid: int) -> None:
        if (rss := tree_rss(pid)) is not None:
            self.rss.append(rss)
        self.target_fds.append(children_fd_count(self.target_pid))


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-u", "--users", type=int, default=10_000, help="users (10000)")
    parser.add_argument("-d", "--duration", type=float, default=30.0, help="seconds (30)")
    parser.add_argument("--workers", type=int, help="loadlens --workers (default: its own)")
    return parser.parse_args()


def check_fd_limit(users: int) -> None:
    """Refuse to start if neither side could open one socket per user."""
    soft = raise_nofile_limit()
    if soft < users + FD_HEADROOM:
        raise SystemExit(f"open-files limit {soft} is too low for {users} users: raise it")
    print(f"open-files limit {soft} for nginx and loadlens")


def main() -> None:
    """Start nginx, run loadlens with many users while sampling memory, print the figures."""
    reexec_in_venv()
    args = parse_args()
    check_fd_limit(args.users)
    ensure_commands("nginx", "taskset")
    check_cli()
    warn_if_busy()
    extra = ["--workers", str(args.workers)] if args.workers else []
    with run_nginx(core=0) as nginx:
        print(f"target {nginx.url} (nginx, 1 worker, core 0)")
        print(f"loadlens -u {args.users} -d {args.duration:g}s {' '.join(extra)}".rstrip())
        print(flush=True)
        sampler = TreeSampler(target_pid=nginx.pid)
        idle_fds = children_fd_count(nginx.pid)
        run = run_loadlens(
            nginx.url, args.users, args.duration, extra=extra, keep={nginx.pid}, sample=sampler
        )
    if not sampler.rss:
        raise SystemExit("loadlens exited before a single memory sample")
    workers = run.result.get("environment", {}).get("workers", "?")
    print(f"exit {run.measured.returncode}, verdict {run.verdict}, workers {workers}")
    print(f"requests {run.requests}, errors {run.failures}, rps {run.result['totals']['rps']:.0f}")
    print(f"wall {run.measured.wall_s:.1f} s, CPU {run.measured.cpu_s:.1f} s")
    print(f"peak connections held by nginx: {max(sampler.target_fds) - idle_fds}")
    print(f"RSS samples {len(sampler.rss)} (every 0.5 s, whole loadlens process tree)")
    print(f"peak RSS  {max(sampler.rss) / MIB:.1f} MiB")
    print(f"final RSS {sampler.rss[-1] / MIB:.1f} MiB")
    print(f"goal: <= {GOAL_MIB} MiB")


if __name__ == "__main__":
    main()
