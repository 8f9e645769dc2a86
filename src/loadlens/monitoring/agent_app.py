"""The agent's HTTP API (Starlette): GET /v1/info and GET /v1/sample, JSON, for
`agent_probe.AgentClient`; every request, whatever its path, needs the token."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from loadlens.monitoring.probe import Probe, ProbeGone

__all__ = ["build_agent_app"]


def build_agent_app(token: str, probes: Mapping[str, Probe]) -> ASGIApp:
    """The agent's app: the probes (already started) sampled on request, behind `token`."""

    async def info(request: Request) -> JSONResponse:
        return JSONResponse({name: probe.target for name, probe in probes.items()})

    async def sample(request: Request) -> JSONResponse:
        # Sampled here on the event loop, not in a thread pool: a sample is a few reads of
        # /proc (milliseconds), calls are serialised for free (each one moves the probes'
        # baselines), and the agent never grows a thread per request.
        body: dict[str, Any] = {}
        for name, probe in probes.items():
            try:
                body[name] = probe.sample()
            except ProbeGone as e:
                body[name] = {"gone": str(e)}
        return JSONResponse(body)

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        return JSONResponse({"error": "GET /v1/info or /v1/sample"}, status_code=status)

    app = Starlette(
        routes=[Route("/v1/info", info), Route("/v1/sample", sample)],
        exception_handlers={404: not_found, 405: not_found},
    )
    return _RequireToken(app, token)


class _RequireToken:
    """Refuses (401) any request without `Authorization: Bearer TOKEN`, before routing."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorised(scope):
            refusal = JSONResponse({"error": "a valid token is required"}, status_code=401,
                                   headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
            await refusal(scope, receive, send)
            return
        await self._app(scope, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        scheme, _, value = given.partition(b" ")
        # compare_digest: the time taken does not tell how much of a guess was right.
        return scheme.lower() == b"bearer" and hmac.compare_digest(value, self._token)
