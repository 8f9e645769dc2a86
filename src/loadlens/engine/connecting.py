"""Opening a connection for a user: each resolved address in turn, within the timeout."""

from __future__ import annotations

import asyncio
import ssl

from loadlens.engine.http_connection import HttpConnection
from loadlens.engine.request_errors import RequestFailed, classify_connect_error
from loadlens.metrics.request_result import ErrorKind

__all__ = ["open_connection"]


async def open_connection(
    loop: asyncio.AbstractEventLoop,
    addresses: tuple[str, ...],
    port: int,
    *,
    ssl_context: ssl.SSLContext | None,
    server_hostname: str | None,
    timeout: float,
) -> HttpConnection:
    """Connect (and handshake TLS) within `timeout`, trying each address in turn."""
    failure: RequestFailed | None = None
    for address in addresses:
        try:
            async with asyncio.timeout(timeout):
                _, protocol = await loop.create_connection(
                    lambda: HttpConnection(loop),
                    address,
                    port,
                    ssl=ssl_context,
                    server_hostname=server_hostname if ssl_context else None,
                )
            return protocol
        except TimeoutError:
            failure = RequestFailed(ErrorKind.CONNECT_TIMEOUT, f"no connection within {timeout}s")
        except OSError as e:
            failure = RequestFailed(classify_connect_error(e), str(e))
            if failure.kind is not ErrorKind.CONNECT_REFUSED:
                break  # only "nothing listens there" is worth the next address
    assert failure is not None, "no address to connect to"
    raise failure
