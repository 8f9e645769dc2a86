"""uvicorn's h11 protocol with the two bounds the agent needs against a hostile client: a
cap on connections, and a deadline on every request.

uvicorn alone bounds neither: it keeps a connection that never sends a byte, or sends its
head a byte at a time, for ever (its keep-alive timeout only starts after a response, and
any byte received stops it), and its `limit_concurrency` answers 503 to every request,
the owner's too, once idle connections fill it.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["bounded_protocol"]


def bounded_protocol(max_connections: int, request_timeout: float) -> type[H11Protocol]:
    """An h11 protocol class that closes a connection opened beyond `max_connections` at
    once, and one that has not sent a whole request `request_timeout` seconds after it
    opened or was last answered."""
    if max_connections < 1 or request_timeout <= 0:
        raise ValueError("max_connections and request_timeout must be positive")

    class BoundedH11Protocol(H11Protocol):
        """uvicorn's H11Protocol, bounded (see `bounded_protocol`)."""

        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                # Closed before reading a byte: past the cap a connection costs nothing
                # but its file descriptor, for the moment it takes to close it.
                transport.close()
                return
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()  # the next request on this connection gets the same time

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self._deadline = self.loop.call_later(request_timeout, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if self.cycle is not None and not self.cycle.response_complete:
                return  # a whole request is being answered (in milliseconds): re-armed after
            self.transport.close()

    return BoundedH11Protocol
