"""`loadlens agent`: the target host's samples over HTTP(S), for a loadlens on another
machine.

One event loop (uvicorn, h11) serves every connection: a thousand idle ones cost a
thousand small objects, not a thousand threads. Each connection has `request_timeout`
seconds to send each request, and at most `max_connections` are kept
(`agent_protocol`). Every request must carry the token (`agent_app`); with `tls_cert` it
travels encrypted. The agent binds only the address it is given.
"""

from __future__ import annotations

import ipaddress
import resource
import socket
from typing import TYPE_CHECKING

import uvicorn

from loadlens.monitoring.agent_app import build_agent_app
from loadlens.monitoring.agent_protocol import bounded_protocol
from loadlens.monitoring.host_probe import HostProbe

if TYPE_CHECKING:
    from loadlens.monitoring.probe import Probe

__all__ = [
    "MIN_TOKEN_LENGTH",
    "AgentServer",
    "AgentSetupError",
    "clear_text_warning",
    "token_problem",
]

MIN_TOKEN_LENGTH = 16
_MAKE_ONE = 'python -c "import secrets; print(secrets.token_urlsafe(24))"'
_MAX_HEAD_BYTES = 16 * 1024  # our requests are a line and two headers


class AgentSetupError(ValueError):
    """The agent cannot start as asked (a weak token, a certificate it cannot load)."""


def token_problem(token: str) -> str | None:
    """What makes `token` unfit to guard the agent, or None when it will do."""
    if len(token) < MIN_TOKEN_LENGTH:
        return (f"the token must be at least {MIN_TOKEN_LENGTH} characters (this one has "
                f"{len(token)}); make one with: {_MAKE_ONE}")  # fmt: skip
    if not all("!" <= c <= "~" for c in token):
        # It travels in a header: spaces, controls and non-ASCII would not survive.
        return f"the token must be printable ASCII without spaces; make one with: {_MAKE_ONE}"
    return None


def clear_text_warning(host: str, tls: bool) -> str | None:
    """A warning when the token would cross a network in clear, else None."""
    if tls or host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name: it may well be reached from elsewhere
    return (f"warning: the agent listens on {host} without TLS: the token and the samples "
            "travel in clear; give --tls-cert and --tls-key, or bind 127.0.0.1 and reach it "
            "through an SSH tunnel")  # fmt: skip


class AgentServer:
    """Serves GET /v1/info and GET /v1/sample; the probes' deltas run from call to call."""

    def __init__(
        self,
        host: str,
        port: int,
        token: str,
        process: Probe | None,
        *,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        max_connections: int = 1024,
        request_timeout: int = 10,
    ) -> None:
        problem = token_problem(token)
        if problem:
            raise AgentSetupError(problem)
        if tls_key and not tls_cert:
            raise AgentSetupError("--tls-key needs --tls-cert (the certificate it belongs to)")
        probes: dict[str, Probe] = {"host": HostProbe()}
        if process is not None:
            probes["process"] = process
        config = uvicorn.Config(
            build_agent_app(token, probes),
            http=bounded_protocol(max_connections, request_timeout),
            ws="none",
            lifespan="off",
            timeout_keep_alive=request_timeout,
            timeout_graceful_shutdown=2,
            h11_max_incomplete_event_size=_MAX_HEAD_BYTES,
            ssl_certfile=tls_cert,
            ssl_keyfile=tls_key,
            server_header=False,
            access_log=False,
            log_config=None,
            # Errors only: a warning per malformed request would let anyone flood the terminal.
            log_level="error",
        )
        try:
            config.load()  # loads the certificate now, for a clear error before serving
        except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
            if not tls_cert:
                raise
            raise AgentSetupError(f"--tls-cert/--tls-key: cannot load them ({e})") from None
        _allow_open_files(max_connections + 64)
        self.scheme = "https" if tls_cert else "http"
        self._socket = _listen(host, port)
        self.port = int(self._socket.getsockname()[1])
        for probe in probes.values():
            probe.start()
        self._server = uvicorn.Server(config)

    def serve_forever(self) -> None:
        """Serve until shutdown() (or Ctrl-C, SIGTERM)."""
        self._server.run(sockets=[self._socket])

    def shutdown(self) -> None:
        """Stop serving (from another thread, or after serve_forever returned)."""
        self._server.should_exit = True  # seen by the loop within 0.1 s; it closes the socket
        if not self._server.started:
            self._socket.close()


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a port in use is a clear error."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def _allow_open_files(wanted: int) -> None:
    """Raise the soft limit on open files towards `wanted` (one per connection), within
    the hard limit: the usual soft default, 1024, is below the agent's connection cap."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))
