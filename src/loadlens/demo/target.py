"""A small built-in HTTP API on 127.0.0.1 for `make demo` and first steps.

It answers `GET /api/v1/users` with a JSON page of users after a simulated database
query (a few milliseconds, longer under concurrency, like a real connection pool), so a
first run shows latency that responds to load. Run: `python -m loadlens.demo.target`.

For chained scenarios (examples/login-chain.yaml, examples/flows.py) it also has a login
and pages that want its token:

- `POST /api/v1/login` with JSON `{"username", "password": "demo"}`: `{"token"}` and a
  `session` cookie (401 on another password)
- `GET /api/v1/users/{id}` with `Authorization: Bearer <token>`: one user (401 without)
- `POST /api/v1/users/{id}/notes`, a form with `text`, bearer token: 201
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
from urllib.parse import parse_qs

import httptools
import uvloop

__all__ = ["DemoApi", "serve"]

_USERS = [
    {"id": i, "name": f"user{i}", "email": f"user{i}@example.com", "active": i % 3 != 0}
    for i in range(1, 21)
]
_BODY = json.dumps({"users": _USERS, "page": 1, "total": 1000}).encode()
_QUERY_MS = 4.0  # the simulated query's base time
_POOL = 20  # queries that run at once; the rest wait, as with a DB connection pool
_PASSWORD = b"demo"
_REASONS = {200: b"OK", 201: b"Created", 400: b"Bad Request", 401: b"Unauthorized",
            404: b"Not Found"}  # fmt: skip


class _Pool:
    def __init__(self, size: int) -> None:
        self.free = size
        self.waiting: list[asyncio.Future[None]] = []


class DemoApi(asyncio.Protocol):
    """One client connection of the demo API (keep-alive, HTTP/1.1)."""

    def __init__(self, pool: _Pool, tokens: set[bytes]) -> None:
        self._pool = pool
        self._tokens = tokens
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._body = b""
        self._authorization = b""
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        """Parse requests; a malformed one closes the connection."""
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.close()

    def on_url(self, url: bytes) -> None:
        """Collect the request target."""
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        """Keep the Authorization header."""
        if name.lower() == b"authorization":
            self._authorization = value

    def on_body(self, body: bytes) -> None:
        """Collect the request body."""
        self._body += body

    def on_message_complete(self) -> None:
        """Route the request."""
        path = httptools.parse_url(self._url).path
        method = self._parser.get_method()
        body, authorization = self._body, self._authorization
        self._url = self._body = self._authorization = b""
        keep_alive = self._parser.should_keep_alive()
        if path == b"/api/v1/users":
            self._loop.create_task(self._users(keep_alive))
        elif path == b"/health":
            self._respond(200, b'{"ok":true}', keep_alive)
        elif path == b"/api/v1/login" and method == b"POST":
            self._login(body, keep_alive)
        elif path.startswith(b"/api/v1/users/"):
            self._user(path, method, body, authorization, keep_alive)
        else:
            self._respond(404, b'{"error":"not found"}', keep_alive)

    def _login(self, body: bytes, keep_alive: bool) -> None:
        try:
            credentials = json.loads(body)
            password = str(credentials["password"]).encode()
        except (ValueError, KeyError, TypeError):
            self._respond(400, b'{"error":"expected username and password"}', keep_alive)
            return
        if password != _PASSWORD:
            self._respond(401, b'{"error":"wrong password"}', keep_alive)
            return
        token = secrets.token_hex(16).encode()
        self._tokens.add(token)
        body = b'{"token":"%s"}' % token
        self._respond(200, body, keep_alive, b"Set-Cookie: session=%s; HttpOnly\r\n" % token)

    def _user(
        self, path: bytes, method: bytes, body: bytes, authorization: bytes, keep_alive: bool
    ) -> None:
        scheme, _, token = authorization.partition(b" ")
        if scheme.lower() != b"bearer" or token not in self._tokens:
            self._respond(401, b'{"error":"a bearer token from /api/v1/login"}', keep_alive)
            return
        parts = path.split(b"/")  # b"", api, v1, users, id[, notes]
        user_id = int(parts[4]) if parts[4].isdigit() else 0
        if not 1 <= user_id <= len(_USERS):
            self._respond(404, b'{"error":"no such user"}', keep_alive)
        elif len(parts) == 5 and method == b"GET":
            self._respond(200, json.dumps(_USERS[user_id - 1]).encode(), keep_alive)
        elif len(parts) == 6 and parts[5] == b"notes" and method == b"POST":
            text = parse_qs(body.decode("utf-8", "replace")).get("text", [""])[0]
            note = {"user": user_id, "text": text, "id": secrets.token_hex(4)}
            self._respond(201, json.dumps(note).encode(), keep_alive)
        else:
            self._respond(404, b'{"error":"not found"}', keep_alive)

    async def _users(self, keep_alive: bool) -> None:
        pool = self._pool
        if pool.free:
            pool.free -= 1
        else:
            waiter = self._loop.create_future()
            pool.waiting.append(waiter)
            await waiter  # the slot is handed over by the query that ends
        try:
            await asyncio.sleep(random.uniform(0.5, 1.5) * _QUERY_MS / 1000)
        finally:
            if pool.waiting:
                pool.waiting.pop(0).set_result(None)
            else:
                pool.free += 1
        self._respond(200, _BODY, keep_alive)

    def _respond(self, status: int, body: bytes, keep_alive: bool, extra: bytes = b"") -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        head = (
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            % (status, _REASONS[status], len(body))
            + extra
            + (b"" if keep_alive else b"Connection: close\r\n")
            + b"\r\n"
        )
        transport.write(head + body)
        if not keep_alive:
            transport.close()


async def serve(host: str, port: int) -> None:
    """Serve the demo API until cancelled."""
    loop = asyncio.get_running_loop()
    pool = _Pool(_POOL)
    tokens: set[bytes] = set()
    server = await loop.create_server(lambda: DemoApi(pool, tokens), host, port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    """`python -m loadlens.demo.target [--port 8089]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
