"""A slow, CPU-bound target: every request burns a fixed amount of CPU (as a query that
scans a table without its index does), in several processes sharing one port.

Run as a script (`python _cpu_server.py --port P --cpu-ms 10`, once per process), or
through `run_cpu_server()`. Its processes run at normal priority, as a developer's own
app does on the laptop that also runs the load test.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BODY = b'{"rows":[],"note":"scanned the whole table"}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


class _Burner(asyncio.Protocol):
    def __init__(self, cpu_s: float) -> None:
        self.cpu_s = cpu_s
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            until = time.thread_time() + self.cpu_s
            while time.thread_time() < until:  # CPU, not waiting: the "scan"
                pass
            assert self.transport is not None
            self.transport.write(RESPONSE)


async def _serve(port: int, cpu_s: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    server = await asyncio.get_running_loop().create_server(
        lambda: _Burner(cpu_s), sock=sock, backlog=4096
    )
    async with server:
        await server.serve_forever()


@contextmanager
def run_cpu_server(
    port: int, cpu_ms: float, processes: int, python: str, core: int | None = None
) -> Iterator[list[int]]:
    """Start `processes` of this module on `port` (pinned to `core`); yield their pids."""
    from _proc import pinned, stop, wait_for_port

    command = [python, str(Path(__file__).resolve()), "--port", str(port), "--cpu-ms", str(cpu_ms)]
    started = [subprocess.Popen(pinned(command, core)) for _ in range(processes)]
    try:
        wait_for_port(port, timeout=10.0, alive=started[0])
        yield [p.pid for p in started]
    finally:
        for process in started:
            stop(process)


def main() -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu-ms", type=float, default=10.0)
    args = parser.parse_args()
    try:
        asyncio.run(_serve(args.port, args.cpu_ms / 1000))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
