"""What a Python scenario file uses: `@flow`, `@on_start`, and the Response it gets back."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

if TYPE_CHECKING:
    from loadlens.scripting.session import Session

__all__ = ["FlowFunction", "Response", "ScriptFlow", "flow", "on_start"]

FlowFunction = Callable[["Session"], Awaitable[Any]]
_F = TypeVar("_F", bound=FlowFunction)

_FLOW_MARK = "__loadlens_flow__"
_START_MARK = "__loadlens_on_start__"


@dataclass(frozen=True)
class ScriptFlow:
    """An `async def` a user runs per iteration, and how often it is picked."""

    name: str
    weight: float
    function: FlowFunction


def _check_async(function: Callable[..., Any], decorator: str) -> None:
    if not inspect.iscoroutinefunction(function):
        raise TypeError(f"@{decorator} goes on an `async def` taking a Session; "
                        f"{function.__qualname__} is not async")  # fmt: skip


def flow(function: _F | None = None, *, weight: float = 1.0, name: str | None = None) -> Any:
    """Mark `async def f(session)` as a flow: each iteration runs one flow, picked by weight.

    Use as `@flow` or `@flow(weight=3, name="browse")`.
    """
    if weight <= 0:
        raise ValueError(f"@flow weight must be above 0, not {weight}")

    def mark(f: _F) -> _F:
        _check_async(f, "flow")
        setattr(f, _FLOW_MARK, ScriptFlow(name or f.__name__, float(weight), f))
        return f

    return mark(function) if function is not None else mark


def on_start(function: _F) -> _F:
    """Mark `async def f(session)` to run once per user, before its first iteration."""
    _check_async(function, "on_start")
    setattr(function, _START_MARK, True)
    return function


def flows_in(namespace: dict[str, Any]) -> tuple[list[ScriptFlow], FlowFunction | None]:
    """The flows and the on_start function a module defines, in definition order."""
    flows = [getattr(v, _FLOW_MARK) for v in namespace.values() if hasattr(v, _FLOW_MARK)]
    starts = [v for v in namespace.values() if getattr(v, _START_MARK, False)]
    if len(starts) > 1:
        raise ValueError("only one @on_start function per scenario")
    return flows, (starts[0] if starts else None)


class Response:
    """A response as a Python scenario sees it (or the failure in its place)."""

    __slots__ = ("_json", "body", "error", "headers", "latency_ms", "status")

    def __init__(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        latency_ms: float,
        error: str | None,
    ) -> None:
        self.status = status  # 0: no response at all (see `error`)
        self.headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers}
        self.body = body
        self.latency_ms = latency_ms
        self.error = error  # the kind it was counted under (connect-refused, http-5xx, ...)
        self._json: Any = None

    @property
    def ok(self) -> bool:
        """Whether the request counted as a success."""
        return self.error is None

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not JSON."""
        if self._json is None:
            self._json = orjson.loads(self.body)
        return self._json

    def header(self, name: str) -> str | None:
        """A header's value (case-insensitive name), or None."""
        return self.headers.get(name.lower())

    def __repr__(self) -> str:
        return f"<Response {self.status or self.error} {self.latency_ms:.1f} ms>"
