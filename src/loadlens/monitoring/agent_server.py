"""`loadlens agent`: the target host's samples over HTTP, for a loadlens on another machine.

Standard library HTTP (one small JSON answer a second needs no framework). Every request
must carry the token (`Authorization: Bearer T`), compared in constant time; the agent
binds only the address it is given.
"""

from __future__ import annotations

import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from loadlens.monitoring.host_probe import HostProbe
from loadlens.monitoring.probe import Probe, ProbeGone

__all__ = ["AgentServer"]


class AgentServer:
    """Serves GET /v1/info and GET /v1/sample; the probes' deltas run from call to call."""

    def __init__(self, host: str, port: int, token: str, process: Probe | None) -> None:
        self.token = token
        self._probes: dict[str, Probe] = {"host": HostProbe()}
        if process is not None:
            self._probes["process"] = process
        for probe in self._probes.values():
            probe.start()
        self._lock = threading.Lock()
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                agent.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return  # one line a second per client would drown the terminal

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self._server.server_address[1])

    def _authorized(self, request: BaseHTTPRequestHandler) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.encode(), self.token.encode()
        )

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        """Answer one request."""
        if not self._authorized(request):
            self._send(request, 401, {"error": "a valid token is required"})
            return
        if request.path == "/v1/info":
            body = {name: probe.target for name, probe in self._probes.items()}
            self._send(request, 200, body)
        elif request.path == "/v1/sample":
            with self._lock:
                sample: dict[str, Any] = {}
                for name, probe in self._probes.items():
                    try:
                        sample[name] = probe.sample()
                    except ProbeGone as e:
                        sample[name] = {"gone": str(e)}
            self._send(request, 200, sample)
        else:
            self._send(request, 404, {"error": "GET /v1/info or /v1/sample"})

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def serve_forever(self) -> None:
        """Serve until shutdown() (or Ctrl-C)."""
        self._server.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
