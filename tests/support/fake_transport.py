"""A network without sockets: fake transports, and an event loop on a virtual clock.

The engine's seam to the network is asyncio's own: a protocol (HttpConnection) talks to
an `asyncio.Transport`, and `loop.create_connection()` makes the pair. `FakeTransport`
records every byte the protocol writes and lets the test play the server, feeding response
bytes in any chunking and hanging up, with the call order of a real selector transport
(connection_lost comes later, from the loop, exactly once). `FakeNetworkLoop` hands out
those transports from create_connection, so a user connects through the engine's real
`open_connection`, and runs on a virtual clock (trio's MockClock with autojump): whenever
nothing is ready to run, time jumps to the next timer, so a 10 s timeout or a think time
passes in microseconds and always at exactly the same virtual instant.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["FakeNetworkLoop", "FakeTransport", "Responder", "run"]

T = TypeVar("T")

Responder = Callable[[bytes], bytes | None]
"""A scripted server: the reply to bytes written (None: no reply)."""


class FakeTransport(asyncio.Transport):
    """One side of a fake TCP connection; the test is the server on the other side."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol: asyncio.Protocol,
        responder: Responder | None = None,
        reply_delay: float = 0.0,
    ) -> None:
        super().__init__(extra={"peername": ("127.0.0.1", 80)})
        self._loop = loop
        self._protocol = protocol
        self._closing = False
        self._lost = False
        self.responder = responder
        self.reply_delay = reply_delay
        self.writes: list[bytes] = []  # each write(), as the protocol made it
        self.aborted = False  # the client dropped the connection (abort or close)
        self.lost_calls = 0  # connection_lost calls delivered (a real transport: 0 or 1)
        protocol.connection_made(self)

    # -- what the protocol sees -------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Keep the bytes (a closing transport drops them, as a real one does)."""
        if self._closing:
            return
        data = bytes(data)
        self.writes.append(data)
        if self.responder is not None:
            reply = self.responder(data)
            if reply is not None:
                # A reply never arrives inside write(): it comes from the loop.
                self._loop.call_later(self.reply_delay, self.feed, reply)

    def is_closing(self) -> bool:
        """Closed by either side."""
        return self._closing

    def close(self) -> None:
        """Close (nothing is ever buffered, so the same as abort)."""
        self.abort()

    def abort(self) -> None:
        """Drop the connection; connection_lost(None) follows from the loop."""
        if not self._closing:
            self.aborted = True
        self._lose(None)

    def get_write_buffer_size(self) -> int:
        """Nothing is ever buffered."""
        return 0

    # -- what the test (the server) does ----------------------------------------------
    @property
    def sent(self) -> bytes:
        """Every byte written so far."""
        return b"".join(self.writes)

    def feed(self, *chunks: bytes) -> None:
        """Deliver response bytes, one data_received per chunk (dropped once closing)."""
        for chunk in chunks:
            if self._closing:
                return
            self._protocol.data_received(chunk)

    def feed_bytewise(self, data: bytes) -> None:
        """Deliver `data` one byte per data_received: a split at every boundary."""
        self.feed(*(data[i : i + 1] for i in range(len(data))))

    def hang_up(self) -> None:
        """The server closes cleanly: EOF, then connection_lost(None) from the loop."""
        if self._closing:
            return
        if not self._protocol.eof_received():
            self._lose(None)

    def reset(self, exc: Exception | None = None) -> None:
        """The connection breaks (ECONNRESET by default): connection_lost(exc) from the loop."""
        self._lose(exc if exc is not None else ConnectionResetError(104, "Connection reset"))

    def _lose(self, exc: Exception | None) -> None:
        self._closing = True
        if not self._lost:
            self._lost = True
            self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: Exception | None) -> None:
        self.lost_calls += 1
        self._protocol.connection_lost(exc)


class _AutojumpSelector(selectors.DefaultSelector):
    """Where the loop would wait for I/O, the clock jumps ahead (or an idle waiter wakes)."""

    loop: FakeNetworkLoop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout == 0:
            return super().select(0)
        # Nothing is ready to run: every callback chain has come to rest.
        if self.loop.wake_idle_waiters():
            return super().select(0)
        if timeout is None:
            # No timer either: only a thread could wake the loop (these tests start none).
            events = super().select(2.0)
            if not events:
                raise RuntimeError("deadlock: nothing ready, no timer, no I/O")
            return events
        self.loop.advance(timeout)
        return super().select(0)


class FakeNetworkLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock is virtual and whose connections are FakeTransports.

    `time()` starts at 1000.0 and moves only when every ready callback has run: then it
    jumps to the next timer. `transports` lists every connection made, in order.
    `responder`, when set, answers every request written on new connections, after
    `reply_delay` virtual seconds.
    `refuse_connections` makes connects fail as refused; `connects_hang` makes them wait
    until their timeout.
    """

    def __init__(self) -> None:
        self._now = 1000.0
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._accepted = 0
        selector = _AutojumpSelector()
        selector.loop = self
        super().__init__(selector)
        self.transports: list[FakeTransport] = []
        self.connect_calls: list[tuple[str, int]] = []
        self.responder: Responder | None = None
        self.reply_delay = 0.0
        self.refuse_connections = False
        self.connects_hang = False

    # -- the clock --------------------------------------------------------------------
    def time(self) -> float:
        """Virtual seconds."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the virtual clock forward."""
        self._now += seconds

    async def wait_idle(self) -> None:
        """Return once nothing is left to run but timers, without moving the clock."""
        waiter = self.create_future()
        self._idle_waiters.append(waiter)
        await waiter

    async def sleep(self, seconds: float) -> None:
        """Let `seconds` of virtual time pass (everything due in them runs)."""
        await asyncio.sleep(seconds)
        await self.wait_idle()

    def wake_idle_waiters(self) -> bool:
        """Wake whoever waits for idleness; False if nobody does."""
        waiters, self._idle_waiters = self._idle_waiters, []
        woke = False
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
                woke = True
        return woke

    # -- the network ------------------------------------------------------------------
    async def create_connection(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], asyncio.Protocol],
        host: str | None = None,
        port: int | None = None,
        **kwargs: Any,
    ) -> tuple[FakeTransport, asyncio.Protocol]:
        """A FakeTransport connected to a new protocol (or a refused/hung connect)."""
        self.connect_calls.append((host or "", port or 0))
        if self.connects_hang:
            await self.create_future()  # until the caller's timeout cancels it
        if self.refuse_connections:
            raise ConnectionRefusedError(111, "Connection refused")
        protocol = protocol_factory()
        transport = FakeTransport(self, protocol, self.responder, self.reply_delay)
        self.transports.append(transport)
        return transport, protocol

    async def accept(self) -> FakeTransport:
        """The next connection not yet accepted, once the client has come to rest."""
        await self.wait_idle()
        assert len(self.transports) > self._accepted, "the client made no new connection"
        self._accepted += 1
        return self.transports[self._accepted - 1]


def run(main: Callable[[FakeNetworkLoop], Coroutine[Any, Any, T]]) -> T:
    """Run `main(loop)` to completion on a fresh FakeNetworkLoop."""
    with asyncio.Runner(loop_factory=FakeNetworkLoop) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, FakeNetworkLoop)
        return runner.run(main(loop))
