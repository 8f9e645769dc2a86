"""A small real web app (Starlette on uvicorn, 127.0.0.1) for scenario tests.

It has what a scenario chains through: a login that hands out a bearer token and a session
cookie, a list and a detail page that reject a request without a valid token, a form post,
an endpoint that reads the session cookie, and one behind basic auth. It counts what it
served so a test can check every user's chain from the server's side.

==================================  ====================================================
``POST /login`` (JSON)              ``{"username", "password"}``: 200 ``{"token"}`` and a
                                    ``session`` cookie; 401 on a wrong password
``GET /items`` (bearer)             ``{"items": [{"id", "name"}, ...]}``
``GET /items/{id}`` (bearer)        ``{"id", "name", "price"}``; 404 for an unknown id
``POST /items/{id}/reviews`` (form) bearer; ``rating`` 1-5 and ``text``: 201 ``{"review"}``
``GET /me`` (session cookie)        ``{"username"}``; 401 without the cookie
``POST /logout`` (cookie)           expires the session cookie
``GET /admin`` (basic)              200 for any user with their password, else 401
==================================  ====================================================

Users are ``user1`` .. ``user50``, each with password ``pw-<name>``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["ShopApp", "running_shop"]

ITEMS = [{"id": i, "name": f"item {i}", "price": 10 * i} for i in range(1, 21)]
USERS = {f"user{i}": f"pw-user{i}" for i in range(1, 51)}


@dataclass
class ShopApp:
    """The app's state: tokens, sessions and what it served (read after a run)."""

    tokens: dict[str, str] = field(default_factory=dict)  # token -> username
    sessions: dict[str, str] = field(default_factory=dict)  # session id -> username
    served: Counter[str] = field(default_factory=Counter)  # route -> successful responses
    rejected: Counter[str] = field(default_factory=Counter)  # route -> 401s
    logins: Counter[str] = field(default_factory=Counter)  # username -> successful logins
    # (user, item, rating, text) of each review posted
    reviews: list[tuple[str, int, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _user(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return self.tokens.get(token) if scheme.lower() == "bearer" else None

    def _reject(self, route: str) -> Response:
        with self.lock:
            self.rejected[route] += 1
        return JSONResponse({"error": "unauthorized"}, status_code=401)

    def _ok(self, route: str, body: object, status: int = 200) -> JSONResponse:
        with self.lock:
            self.served[route] += 1
        return JSONResponse(body, status_code=status)

    async def login(self, request: Request) -> Response:
        try:
            body = await request.json()
            username, password = str(body["username"]), str(body["password"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "expected username and password"}, status_code=400)
        if USERS.get(username) != password:
            return self._reject("login")
        token, session = uuid.uuid4().hex, uuid.uuid4().hex
        with self.lock:
            self.tokens[token] = username
            self.sessions[session] = username
            self.logins[username] += 1
        response = self._ok("login", {"token": token, "user": username})
        response.set_cookie("session", session, httponly=True)
        return response

    async def items(self, request: Request) -> Response:
        if self._user(request) is None:
            return self._reject("items")
        return self._ok("items", {"items": [{"id": i["id"], "name": i["name"]} for i in ITEMS]})

    async def item(self, request: Request) -> Response:
        if self._user(request) is None:
            return self._reject("item")
        item_id = int(request.path_params["item_id"])
        found = next((i for i in ITEMS if i["id"] == item_id), None)
        if found is None:
            return JSONResponse({"error": "no such item"}, status_code=404)
        return self._ok("item", found)

    async def review(self, request: Request) -> Response:
        user = self._user(request)
        if user is None:
            return self._reject("review")
        form = await request.form()
        rating, text = str(form.get("rating", "")), str(form.get("text", ""))
        if rating not in {"1", "2", "3", "4", "5"}:
            return JSONResponse({"error": "rating is 1 to 5"}, status_code=422)
        with self.lock:
            self.reviews.append((user, int(request.path_params["item_id"]), rating, text))
        return self._ok("review", {"review": uuid.uuid4().hex}, status=201)

    async def me(self, request: Request) -> Response:
        user = self.sessions.get(request.cookies.get("session", ""))
        if user is None:
            return self._reject("me")
        return self._ok("me", {"username": user})

    async def logout(self, request: Request) -> Response:
        response = self._ok("logout", {"ok": True})
        response.delete_cookie("session")
        return response

    async def admin(self, request: Request) -> Response:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, binascii.Error):
            return self._reject("admin")
        if scheme.lower() != "basic" or USERS.get(user) != password:
            return self._reject("admin")
        return self._ok("admin", {"admin": user})

    def asgi(self) -> Starlette:
        """The Starlette application."""
        return Starlette(
            routes=[
                Route("/login", self.login, methods=["POST"]),
                Route("/items", self.items),
                Route("/items/{item_id:int}", self.item),
                Route("/items/{item_id:int}/reviews", self.review, methods=["POST"]),
                Route("/me", self.me),
                Route("/logout", self.logout, methods=["POST"]),
                Route("/admin", self.admin),
            ]
        )


@contextmanager
def running_shop() -> Iterator[tuple[ShopApp, str]]:
    """Serve a fresh ShopApp on 127.0.0.1 in a thread; yields (app, base URL)."""
    app = ShopApp()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app.asgi(), log_level="warning", access_log=False, loop="asyncio", http="httptools"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the shop app did not start")
        threading.Event().wait(0.01)
    try:
        yield app, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
