"""One GET of a monitor endpoint (an agent, a /metrics page, an app's statistics), bounded
in time and in size, so a misbehaving endpoint costs a sample, never the run.

The time bound is a deadline on the whole exchange (connect, TLS, request, answer), not a
timeout on each read: a server that trickles a byte a second never lets a per-read timeout
fire (urllib's `timeout=` is one), and it used to hold the monitor thread, and so the end
of a run, for as long as it kept trickling. The size bound is on the body as it arrives,
whatever the Content-Length claims. HTTP/1.1 framing (lengths, chunks, a close-delimited
body, limits on the head) is h11's.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

from loadlens.monitoring.probe import ProbeGone, SampleSkipped

__all__ = ["MAX_BODY_BYTES", "EndpointAnswer", "ReadLimits", "read_endpoint"]

MAX_BODY_BYTES = 4 * 1024 * 1024  # a big app's /metrics is a few hundred KiB
_MAX_HEAD_BYTES = 64 * 1024
_RECV_BYTES = 64 * 1024


@dataclass(frozen=True)
class ReadLimits:
    """How long one read of an endpoint may take, and how large its answer may be."""

    connect_s: float = 0.5
    total_s: float = 0.8  # sampled once a second: an answer later than this is useless
    max_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if min(self.connect_s, self.total_s, self.max_bytes) <= 0:
            raise ValueError(f"read limits must be positive: {self}")


@dataclass(frozen=True)
class EndpointAnswer:
    """A complete answer: its status and its body."""

    status: int
    body: bytes


def read_endpoint(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    limits: ReadLimits | None = None,
    tls: ssl.SSLContext | None = None,
) -> EndpointAnswer:
    """GET `url` within `limits`; ProbeGone when nothing answers there (refused, not HTTP,
    a certificate refused), SampleSkipped when the answer is too late or too large.

    `tls` verifies an https URL (the system's CAs when None). Messages never repeat the
    headers (they carry the agent's token).
    """
    limits = limits or ReadLimits()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProbeGone(f"{url}: not an http:// or https:// URL")
    https = parts.scheme == "https"
    deadline = time.monotonic() + limits.total_s
    try:
        sock = socket.create_connection(
            (parts.hostname, parts.port or (443 if https else 80)),
            timeout=min(limits.connect_s, limits.total_s),
        )
    except TimeoutError:
        raise ProbeGone(f"unreachable (no connection within {limits.connect_s:g} s)") from None
    except OSError as e:
        raise ProbeGone(f"unreachable ({e.strerror or e})") from None
    try:
        if https:
            context = tls or ssl.create_default_context()
            # The handshake's timeout is a deadline over all of it (CPython's ssl module).
            sock.settimeout(_remaining(deadline))
            sock = context.wrap_socket(sock, server_hostname=parts.hostname)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return _exchange(sock, parts.netloc, target, headers or {}, deadline, limits.max_bytes)
    except TimeoutError:
        raise SampleSkipped(f"no complete answer within {limits.total_s:g} s") from None
    except ssl.SSLError as e:
        raise ProbeGone(f"TLS failed ({e.reason or e})") from None
    except OSError as e:
        raise ProbeGone(f"unreachable ({e.strerror or e})") from None
    except h11.RemoteProtocolError as e:
        raise ProbeGone(f"not a valid HTTP answer ({e})") from None
    finally:
        sock.close()


def _exchange(
    sock: socket.socket,
    host: str,
    target: str,
    headers: Mapping[str, str],
    deadline: float,
    max_bytes: int,
) -> EndpointAnswer:
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD_BYTES)
    request = h11.Request(
        method="GET",
        target=target,
        # identity: nothing here inflates a body (one that did could outgrow the bound)
        headers=[("Host", host), ("Connection", "close"), ("Accept-Encoding", "identity"),
                 *headers.items()],
    )  # fmt: skip
    sock.settimeout(_remaining(deadline))
    sock.sendall((conn.send(request) or b"") + (conn.send(h11.EndOfMessage()) or b""))
    status = 0
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            sock.settimeout(_remaining(deadline))
            data = sock.recv(_RECV_BYTES)
            if not data and not status:
                raise ProbeGone("the connection closed without an answer")
            conn.receive_data(data)
        elif isinstance(event, h11.Response):
            status = event.status_code
            length = dict(event.headers).get(b"content-length")
            if length is not None and int(length) > max_bytes:
                raise _too_large(max_bytes)  # refused before a byte of it is read
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > max_bytes:
                raise _too_large(max_bytes)
        elif isinstance(event, h11.EndOfMessage):
            return EndpointAnswer(status, bytes(body))
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            # Neither comes before a response's end; met anyway, waiting would never end.
            raise ProbeGone("the connection closed before the answer was complete")


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _too_large(max_bytes: int) -> SampleSkipped:
    return SampleSkipped(f"the answer is over {max_bytes / 1024 / 1024:g} MiB")
