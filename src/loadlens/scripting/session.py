"""The Session a Python scenario's flows get: requests on the engine's own virtual user.

Requests go through the same VirtualUser (keep-alive connection per origin, cookie jar,
timeouts, error kinds) and into the same recorder as YAML steps; only their bytes are
encoded per call, since Python code builds them as it goes.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from functools import partial
from time import monotonic_ns
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import orjson

from loadlens.engine.prepared_request import PreparedRequest, locate, sets_authorization
from loadlens.engine.request_errors import RequestFailed
from loadlens.engine.request_head import encode_request
from loadlens.engine.response_rules import StepRules
from loadlens.engine.virtual_user import VirtualUser
from loadlens.metrics.recorder import IntervalRecorder
from loadlens.metrics.request_result import ErrorKind, RequestResult
from loadlens.scenario.model import CheckSpec
from loadlens.scripting.api import Response

__all__ = ["ScriptRuntime", "Session"]

_NS_PER_MS = 1e6


def _done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ScriptRuntime:
    """One worker's names for what its Python flows request: endpoints, origins, checks.

    Names are numbered in the order this worker meets them; snapshots carry the names,
    and the coordinator matches them across workers.
    """

    def __init__(self, recorder: IntervalRecorder, base_url: str | None, timeout: float) -> None:
        self.recorder = recorder
        self.base_url = base_url
        self.timeout = timeout  # the scenario's, for requests that set none
        self.endpoint_names: list[tuple[str, str, str]] = []
        self.check_names: list[str] = []
        self._stats: dict[str, int] = {}
        self._checks: dict[str, int] = {}
        self._origins: dict[tuple[str, int, bool], int] = {}
        self._addresses: dict[tuple[str, int], tuple[str, ...]] = {}
        self._endpoints: dict[tuple[Any, ...], PreparedRequest] = {}

    def check_index(self, name: str) -> int:
        """The recorder's index for check `name`."""
        index = self._checks.get(name)
        if index is None:
            index = self._checks[name] = self.recorder.add_check()
            self.check_names.append(name)
        return index

    async def _resolve(self, host: str, port: int) -> tuple[str, ...]:
        key = (host, port)
        addresses = self._addresses.get(key)
        if addresses is None:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except (socket.gaierror, UnicodeError) as e:
                raise RequestFailed(
                    ErrorKind.CONNECT_ERROR, f"cannot resolve {host!r}: {e}"
                ) from None
            addresses = self._addresses[key] = tuple(dict.fromkeys(str(i[4][0]) for i in infos))
        return addresses

    async def endpoint(
        self, name: str, method: str, url: str, timeout: float | None, expect: tuple[int, ...]
    ) -> PreparedRequest:
        """The endpoint a request belongs to (its stats, connection and checks)."""
        where = locate(url)
        host, port, tls = where.hostname, where.port, where.tls
        key = (name, method, host, port, tls, timeout, expect)
        found = self._endpoints.get(key)
        if found is not None:
            return found
        index = self._stats.get(name)
        if index is None:
            index = self._stats[name] = self.recorder.add_endpoint()
            self.endpoint_names.append((name, method, url.split("?", 1)[0]))
        try:
            addresses = await self._resolve(host, port)
        except RequestFailed as failure:
            # Counted like any request that got no connection (and not timed).
            now = monotonic_ns()
            self.recorder.add(RequestResult(index, 0, failure.kind, now, now, now, timed=False))
            raise
        rules = None
        if expect:
            check = CheckSpec(name=f"{name}: status {', '.join(map(str, expect))}",
                              kind="status", value=[(s, s) for s in expect])  # fmt: skip
            rules = StepRules((), (check,), {check.name: self.check_index(check.name)})
        origin = self._origins.setdefault((host, port, tls), len(self._origins))
        endpoint = self._endpoints[key] = PreparedRequest(
            index=index,
            origin=origin,
            name=name,
            method=method,
            url=url,
            addresses=addresses,
            port=port,
            server_hostname=host,
            tls=tls,
            payload=b"",
            is_head=method == "HEAD",
            timeout=timeout or self.timeout,
            render=None,
            rules=rules,
            reads_response=True,
            keep_body=True,
        )
        return endpoint


class Session:
    """A virtual user, as a Python scenario drives it: `await session.get("/items")`.

    `headers` are sent with every request (set `Authorization` after a login); `vars` is
    the user's own dict, kept across iterations; cookies are kept as in YAML scenarios.
    `user_id` numbers the run's users 1, 2, 3, ...; `iteration` counts this user's.
    """

    def __init__(
        self,
        user: VirtualUser,
        runtime: ScriptRuntime,
        user_id: int,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._user = user
        self._runtime = runtime
        self._intended_ns: int | None = None
        self._started_ns = 0
        self.failed_requests = 0  # over the user's life: on_start succeeds only without any
        self.user_id = user_id
        self.iteration = 0
        self.headers: dict[str, str] = dict(headers or {})
        self.vars: dict[str, Any] = user.variables

    def start_iteration(self, intended_ns: int | None, *, counted: bool = True) -> None:
        """An iteration begins; for open models, when it was due (the first request's
        latency runs from then, plus whatever the flow did before sending it)."""
        self._intended_ns = intended_ns
        self._started_ns = monotonic_ns()
        if counted:
            self.iteration += 1

    async def request(
        self,
        method: str,
        path: str,
        *,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | str | bytes | None = None,
        timeout: float | None = None,
        expect: int | tuple[int, ...] | list[int] | None = None,
    ) -> Response:
        """Send one request and wait for its response (never raises for HTTP failures).

        `name` groups its statistics (default `METHOD path`, without the query); `json`
        or `data` (a form dict, or raw text/bytes) is the body; `expect` lists the
        statuses that count as success (a check, reported like a YAML `status` check).
        """
        method = method.upper()
        base = self._runtime.base_url
        url = path if "://" in path else urljoin((base or "").rstrip("/") + "/", path.lstrip("/"))
        if "://" not in url:
            raise ValueError(f"{path!r}: a relative path needs `base_url` in the scenario")
        if params:
            url += ("&" if urlsplit(url).query else "?") + urlencode(params, doseq=True)
        merged = {**self.headers, **(headers or {})}
        body: bytes | None = None
        if json is not None:
            body = orjson.dumps(json)
            merged.setdefault("Content-Type", "application/json")
        elif isinstance(data, Mapping):
            body = urlencode(data, doseq=True).encode()
            merged.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif data is not None:
            body = data.encode() if isinstance(data, str) else data
        expected = (expect,) if isinstance(expect, int) else tuple(expect or ())
        label = name or f"{method} {urlsplit(path).path or '/'}"
        user = self._user
        try:
            endpoint = await self._runtime.endpoint(label, method, url, timeout, expected)
        except RequestFailed as e:
            return Response(0, [], b"", 0.0, str(e.kind))
        where = locate(url)
        if where.authorization and not sets_authorization(merged.items()):
            merged["Authorization"] = where.authorization  # the URL's userinfo, as curl sends it
        payload = encode_request(method, where.host_header, where.target, merged.items(), body)
        if user.busy:
            raise RuntimeError(
                "a Session sends one request at a time (a virtual user is one client); "
                "await each request before the next"
            )
        user.ensure_origin(endpoint.origin)
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        intended, self._intended_ns = self._intended_ns, None
        if intended is not None:
            # The schedule's lag counts against the first request; time the flow spent
            # before it (a sleep, a lookup) is the flow's own, and does not.
            intended += monotonic_ns() - self._started_ns
        user.exchange(endpoint, intended, partial(_done, finished), payload)
        try:
            await finished
        except asyncio.CancelledError:
            user.close()  # the run is over: abandon the request, unrecorded
            raise
        capture = user.capture
        result = user.result
        error, status = result.error, result.status
        if error is not None:
            self.failed_requests += 1
        return Response(
            status,
            capture.headers if capture is not None and status else [],
            capture.body if capture is not None and status else b"",
            result.latency_ns / _NS_PER_MS,
            None if error is None else str(error),
        )

    async def get(self, path: str, **options: Any) -> Response:
        """`request("GET", path, ...)`."""
        return await self.request("GET", path, **options)

    async def post(self, path: str, **options: Any) -> Response:
        """`request("POST", path, ...)`."""
        return await self.request("POST", path, **options)

    async def put(self, path: str, **options: Any) -> Response:
        """`request("PUT", path, ...)`."""
        return await self.request("PUT", path, **options)

    async def patch(self, path: str, **options: Any) -> Response:
        """`request("PATCH", path, ...)`."""
        return await self.request("PATCH", path, **options)

    async def delete(self, path: str, **options: Any) -> Response:
        """`request("DELETE", path, ...)`."""
        return await self.request("DELETE", path, **options)

    async def head(self, path: str, **options: Any) -> Response:
        """`request("HEAD", path, ...)`."""
        return await self.request("HEAD", path, **options)

    def check(self, name: str, condition: object) -> bool:
        """Count a named check as passed or failed (results list each; `checks>99%`)."""
        ok = bool(condition)
        counts = self._runtime.recorder.check_counts_at(monotonic_ns())
        counts[2 * self._runtime.check_index(name) + (not ok)] += 1
        return ok

    async def sleep(self, seconds: float) -> None:
        """Think time: pause this user."""
        await asyncio.sleep(seconds)
