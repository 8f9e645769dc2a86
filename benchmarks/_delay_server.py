"""A target that answers every HTTP/1.1 request after a fixed delay (asyncio + uvloop).

nginx cannot hold a response for an exact time, so the accuracy benchmark uses this
instead: each request is answered `--delay-ms` after its header block arrived, on a
keep-alive connection, with a fixed small body. It is a measuring stick, not a
server: requests are GETs without bodies, and the request line is not even parsed.

Run as a script (`python _delay_server.py --port P --delay-ms 50`), or through
`run_delay_server()`, which starts it as a subprocess pinned to one core.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

BODY = b'{"status":"ok","delayed":true}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n" + BODY
)
END_OF_HEADERS = b"\r\n\r\n"

_CLOCK_MONOTONIC = 1
_TFD_CLOEXEC = 0o2000000
_TFD_NONBLOCK = 0o4000
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


class CallLaterTimer:
    """Delays with `loop.call_later`: simple, but libuv timers tick in whole milliseconds."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay_s: float) -> None:
        self.loop = loop
        self.delay_s = delay_s

    def schedule(self, callback: Callable[[], None]) -> None:
        """Run `callback` `delay_s` from now."""
        self.loop.call_later(self.delay_s, callback)


class TimerfdTimer:
    """Delays with one Linux timerfd (nanosecond deadlines) watched by the event loop.

    uvloop's call_later rounds to libuv's millisecond timer tick, measured here as
    +0.5 to +1.4 ms on a 50 ms delay, and how much depends on where in the millisecond
    a request lands, i.e. on the client's own turnaround: that would bias a comparison
    of two clients. With a constant delay, deadlines come due in arrival order, so a
    FIFO and one absolute-time timerfd armed for its head are enough.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, delay_s: float) -> None:
        self.delay_s = delay_s
        self.due: deque[tuple[float, Callable[[], None]]] = deque()
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        loop.add_reader(self.fd, self._expired)

    def schedule(self, callback: Callable[[], None]) -> None:
        """Run `callback` `delay_s` after now (time.monotonic is CLOCK_MONOTONIC)."""
        self.due.append((time.monotonic() + self.delay_s, callback))
        if len(self.due) == 1:
            self._arm(self.due[0][0])

    def _arm(self, deadline: float) -> None:
        seconds = int(deadline)
        value = _Timespec(seconds, max(1, int((deadline - seconds) * 1e9)))
        spec = _Itimerspec(_Timespec(0, 0), value)
        if self.libc.timerfd_settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None):
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def _expired(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, 8)
        now = time.monotonic()
        while self.due and self.due[0][0] <= now:
            self.due.popleft()[1]()
        if self.due:
            self._arm(self.due[0][0])


class DelayedResponder(asyncio.Protocol):
    """One connection: every complete request head schedules one fixed response."""

    def __init__(self, timer: CallLaterTimer | TimerfdTimer) -> None:
        self.timer = timer
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport does not subclass asyncio.Transport, so no isinstance.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(END_OF_HEADERS)) >= 0:
            self.buffer = self.buffer[end + len(END_OF_HEADERS) :]
            self.timer.schedule(self.respond)

    def respond(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(RESPONSE)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(port: int, delay_s: float, timer_kind: str) -> None:
    """Listen on 127.0.0.1:`port` until cancelled."""
    loop = asyncio.get_running_loop()
    kind = TimerfdTimer if timer_kind == "timerfd" else CallLaterTimer
    timer = kind(loop, delay_s)
    server = await loop.create_server(
        lambda: DelayedResponder(timer), "127.0.0.1", port, backlog=4096
    )
    async with server:
        await server.serve_forever()


@contextmanager
def run_delay_server(
    port: int, delay_ms: float, python: str, core: int | None = 0, timer: str = "timerfd"
) -> Iterator[int]:
    """Start this module as a subprocess on `port`, wait until it listens, stop it after.

    Yields the server's pid so that CPU accounting can leave it alone.
    """
    from _proc import pinned, raise_nofile_limit, stop, wait_for_port

    command = [python, str(Path(__file__).resolve()), "--port", str(port)]
    command += ["--delay-ms", str(delay_ms), "--timer", timer]
    process = subprocess.Popen(pinned(command, core), preexec_fn=raise_nofile_limit)
    try:
        wait_for_port(port, timeout=10.0, alive=process)
        yield process.pid
    finally:
        stop(process)


def main() -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--timer", choices=("timerfd", "call_later"), default="timerfd")
    args = parser.parse_args()
    import uvloop

    try:
        uvloop.run(serve(args.port, args.delay_ms / 1000.0, args.timer))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
