"""The engine's own cost per request, without the kernel: loadlens's request cycle vs bare.

`efficiency.py` measures whole runs against nginx, where ~70% of a request's CPU is the
kernel's (a write and a read on loopback) and this VM's speed drifts by 10-20% between
rounds. This script isolates what is ours: one keep-alive user of the real engine
(VirtualUser, HttpConnection, IntervalRecorder, RunContext's closed loop for a one-step
flow) on a transport that only counts writes, fed a captured nginx response N times; and
the bare-protocol client (`_bare_client.py`) the same way. Each feed is one whole request
cycle: response parsed, judged, recorded, next request written.

It prints microseconds per request (median of rounds, interleaved) and, when valgrind is
installed, CPU instructions per request, counted by cachegrind as the difference between
two run lengths (start-up cancels out). Instructions do not drift with the VM: they are
the figure to compare before and after a change to the hot path.

    python benchmarks/hot_path.py [--requests 200000] [--rounds 7] [--no-valgrind]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from _bare_client import Connection as BareConnection
from _bare_client import Tally, loadlens_payload
from _proc import reexec_in_venv

URL = "http://127.0.0.1:8080/json"
# What nginx answers to the efficiency benchmark's GET /json (headers and a 200-byte body).
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 02 Dec 2026 15:40:00 GMT\r\n"
    b"Content-Type: application/json\r\nContent-Length: 200\r\nConnection: keep-alive\r\n\r\n"
    + b"x"
    * 200
)


class CountingTransport(asyncio.Transport):
    """A transport that counts writes and drops the bytes (the response is fed by hand)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Count one request written."""
        self.writes += 1

    def abort(self) -> None:
        """Nothing to close."""

    def close(self) -> None:
        """Nothing to close."""

    def is_closing(self) -> bool:
        """Never closing."""
        return False


def loadlens_feeder() -> tuple[Callable[[bytes], None], CountingTransport]:
    """One loadlens user with its request in flight, and the way to feed it a response."""
    import uvloop

    from loadlens.engine.http_connection import HttpConnection
    from loadlens.engine.prepared_request import prepare_flows
    from loadlens.engine.virtual_user import UserCommons, VirtualUser
    from loadlens.metrics.recorder import IntervalRecorder
    from loadlens.scenario.from_flags import RunFlags, scenario_from_flags

    loop = uvloop.new_event_loop()
    flows, _ = prepare_flows(scenario_from_flags(RunFlags(target=URL)))
    commons = UserCommons(loop, flows, IntervalRecorder(1, time.monotonic_ns()), None, 5.0)
    user = VirtualUser(commons)
    conn = HttpConnection(loop)
    transport = CountingTransport()
    conn.connection_made(transport)
    user._conns[0] = conn  # connected, as after the user's first request
    request = flows[0].steps[0].request

    def next_iteration() -> None:  # RunContext's closed loop for a one-request flow
        user.exchange(request, None, next_iteration)

    next_iteration()
    return conn.data_received, transport


def bare_feeder() -> tuple[Callable[[bytes], None], CountingTransport]:
    """The bare client's connection with its request in flight."""
    conn = BareConnection(Tally(loadlens_payload(URL)))
    transport = CountingTransport()
    conn.connection_made(transport)
    return conn.data_received, transport


FEEDERS = {"loadlens": loadlens_feeder, "bare": bare_feeder}


def feed(name: str, requests: int) -> float:
    """Microseconds per request cycle over `requests` cycles."""
    data_received, transport = FEEDERS[name]()
    started = time.perf_counter_ns()
    for _ in range(requests):
        data_received(RESPONSE)
    elapsed = time.perf_counter_ns() - started
    if transport.writes != requests + 1:
        raise SystemExit(f"{name}: {transport.writes - 1} requests written for {requests} fed")
    return elapsed / requests / 1000


def instructions(name: str) -> int:
    """CPU instructions per request cycle (cachegrind; two run lengths, differenced)."""

    def count(requests: int) -> int:
        out = subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
             sys.executable, __file__, "--only", name, "--requests", str(requests)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        line = next(x for x in out.stderr.splitlines() if "I   refs" in x or "I refs" in x)
        return int(line.split(":")[1].replace(",", "").strip())

    return (count(25_000) - count(5_000)) // 20_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000, help="cycles per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of each (7)")
    parser.add_argument("--no-valgrind", action="store_true", help="skip instruction counts")
    parser.add_argument("--only", choices=sorted(FEEDERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:  # one measured run, for valgrind
        feed(args.only, args.requests)
        return
    times: dict[str, list[float]] = {name: [] for name in FEEDERS}
    for _ in range(args.rounds):
        for name in FEEDERS:
            times[name].append(feed(name, args.requests))
    ours, bare = (statistics.median(times[n]) for n in ("loadlens", "bare"))
    print(f"{args.requests} request cycles per round, {args.rounds} rounds, no kernel\n")
    for name in FEEDERS:
        rounds = " ".join(f"{t:.2f}" for t in times[name])
        print(f"{name:9} {statistics.median(times[name]):5.2f} us/request  (rounds: {rounds})")
    print(f"ratio loadlens/bare {ours / bare:.2f} of the medians")
    if args.no_valgrind or shutil.which("valgrind") is None:
        print("(instructions per request: needs valgrind)")
        return
    counted = {name: instructions(name) for name in FEEDERS}
    print()
    for name, n in counted.items():
        print(f"{name:9} {n:6d} instructions/request (cachegrind)")
    print(f"loadlens's own work: {counted['loadlens'] - counted['bare']} instructions/request "
          f"above bare")  # fmt: skip


if __name__ == "__main__":
    reexec_in_venv()
    main()
