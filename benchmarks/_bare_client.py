"""The bare-protocol ceiling: the least a Python HTTP/1.1 client on httptools + uvloop can do.

One `asyncio.Protocol` per keep-alive connection, one request in flight on each (closed
loop: the next request is written from the parser's message-complete callback), the
exact bytes `loadlens run URL` sends, and nothing else: no timing, no histograms, no
per-second snapshots, no workers. What it gets out of a CPU-second is what loadlens's own
engine could get at best, so loadlens's distance from it is the cost of its metrics and
bookkeeping, and its distance from wrk is the cost of Python.

Run as a script (`python _bare_client.py URL -c 50 -d 10 --payload HEX`; it prints one
JSON line), or through `run_bare()`, which builds the request as loadlens would and runs
the script as a measured child, pinned like the other generators.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httptools

if TYPE_CHECKING:
    from _proc import Measured


class Tally:
    """What every connection adds to: responses, errors, and whether to send more."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.running = True
        self.responses = 0
        self.errors = 0  # non-2xx/3xx responses, parse errors, connections lost or refused


class Connection(asyncio.Protocol):
    """One keep-alive connection with one request in flight at a time."""

    __slots__ = ("parser", "tally", "transport")

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.tally.payload)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.tally.errors += 1
            self.close()

    def on_message_complete(self) -> None:
        tally = self.tally
        tally.responses += 1
        if not 200 <= self.parser.get_status_code() < 400:
            tally.errors += 1
        if tally.running and self.transport is not None:
            self.transport.write(tally.payload)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.tally.running:
            self.tally.errors += 1  # not reopened: the count says the figure is suspect
        self.transport = None

    def close(self) -> None:
        """Close the connection if it is open."""
        if self.transport is not None:
            self.transport.close()


async def load(url: str, connections: int, duration_s: float, payload: bytes) -> dict[str, float]:
    """Hold `connections` busy for `duration_s` (connecting included, as wrk's -d does)."""
    started = time.monotonic()
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    tally = Tally(payload)
    opened: list[Connection] = []

    async def open_one() -> None:
        try:
            _, protocol = await loop.create_connection(
                lambda: Connection(tally), parts.hostname, parts.port or 80
            )
        except OSError:
            tally.errors += 1
            return
        opened.append(protocol)

    async with asyncio.TaskGroup() as group:
        for _ in range(connections):
            group.create_task(open_one())
    await asyncio.sleep(max(0.0, started + duration_s - time.monotonic()))
    tally.running = False
    elapsed = time.monotonic() - started
    responses = tally.responses  # responses still in flight now are not counted
    for connection in opened:
        connection.close()
    return {"responses": responses, "errors": tally.errors, "seconds": elapsed}


@dataclass(frozen=True)
class BareRun:
    """One finished bare-client run: the process as measured and what it counted."""

    measured: Measured
    responses: int
    errors: int
    seconds: float  # the client's own clock, from before connecting to the stop


def loadlens_payload(url: str) -> bytes:
    """The bytes `loadlens run URL` writes per request, from loadlens's own encoder."""
    from loadlens.engine.prepared_request import prepare_flows
    from loadlens.scenario.from_flags import RunFlags, scenario_from_flags

    flows, _ = prepare_flows(scenario_from_flags(RunFlags(target=url)))
    return flows[0].steps[0].request.payload


def run_bare(
    url: str,
    connections: int,
    duration_s: int,
    *,
    core: int | None = None,
    keep: set[int] | None = None,
) -> BareRun:
    """Run this script to completion (pinned to `core` if given) and read its count."""
    from _proc import pinned, python_executable, run_measured

    command = [python_executable(), str(Path(__file__).resolve()), url]
    command += ["-c", str(connections), "-d", str(duration_s)]
    command += ["--payload", loadlens_payload(url).hex()]
    measured = run_measured(pinned(command, core), timeout=duration_s + 60, keep=keep)
    if measured.returncode != 0:
        raise RuntimeError(f"bare client exited {measured.returncode}:\n{measured.stderr}")
    counted = json.loads(measured.stdout)
    return BareRun(
        measured, int(counted["responses"]), int(counted["errors"]), float(counted["seconds"])
    )


def main() -> None:
    """Parse the command line, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("-c", "--connections", type=int, default=50)
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--payload", required=True, help="the request's bytes, in hex")
    args = parser.parse_args()
    import uvloop

    payload = bytes.fromhex(args.payload)
    counted = uvloop.run(load(args.url, args.connections, args.duration, payload))
    json.dump(counted, sys.stdout)
    print()


if __name__ == "__main__":
    main()
