"""The scenario: what to request and how hard, validated once and frozen."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from loadlens.scenario.load import LoadSpec

__all__ = ["Flow", "LoadSpec", "RequestSpec", "Scenario", "Step", "ThinkTime"]

_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class RequestSpec(BaseModel):
    """One HTTP request a virtual user sends in each iteration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    method: str = "GET"
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    timeout: float | None = Field(default=None, gt=0, description="overrides the scenario's")
    body_kind: Literal["raw", "json", "form"] = "raw"  # how {{ }} values are escaped in it

    @field_validator("method")
    @classmethod
    def _known_method(cls, v: str) -> str:
        m = v.upper()
        if m not in _METHODS:
            raise ValueError(f"unknown HTTP method {v!r}; expected one of {sorted(_METHODS)}")
        return m

    @field_validator("url")
    @classmethod
    def _absolute_http_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if "{{" in parts.netloc:
            raise ValueError(f"{v!r}: the host cannot be a template (it is resolved once)")
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"{v!r} is not an http:// or https:// URL")
        if not parts.hostname:
            raise ValueError(f"{v!r} has no host")
        try:
            _ = parts.port
        except ValueError as e:
            raise ValueError(f"{v!r} has an invalid port ({e})") from None
        return v

    @field_validator("headers")
    @classmethod
    def _clean_headers(cls, v: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        for name, value in v:
            if not name or any(c in name for c in " \t\r\n:"):
                raise ValueError(f"invalid header name {name!r}")
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name!r} has a line break in its value")
        return v


class ThinkTime(BaseModel):
    """A pause after a step: `low` seconds, or uniformly between `low` and `high`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    low: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> ThinkTime:
        if self.high < self.low:
            raise ValueError(f"think time range {self.low}..{self.high} runs backwards")
        return self


class Step(BaseModel):
    """One request of a flow, and the pause after it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request: RequestSpec
    think_time: ThinkTime | None = None


class Flow(BaseModel):
    """Ordered steps a user runs per iteration; `weight` sets how often it is picked."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    weight: float = Field(default=1.0, gt=0)
    steps: tuple[Step, ...] = Field(min_length=1)
    pacing: float | None = Field(default=None, gt=0, description="start an iteration every N s")


class Scenario(BaseModel):
    """A complete, validated description of one load test run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "run"
    variables: dict[str, str | int | float | bool] = Field(default_factory=dict)
    flows: tuple[Flow, ...] = Field(min_length=1)
    load: LoadSpec
    timeout: float = Field(default=10.0, gt=0, description="whole-request timeout, seconds")
    connect_timeout: float = Field(default=5.0, gt=0, description="TCP+TLS connect, seconds")
    insecure: bool = False
    thresholds: tuple[str, ...] = ()
    abort_on_fail: bool = False
    graceful_stop: float = Field(default=10.0, ge=0, description="wait for in-flight, seconds")

    @property
    def requests(self) -> tuple[RequestSpec, ...]:
        """Every step's request, flow by flow, in order."""
        return tuple(step.request for flow in self.flows for step in flow.steps)

    @property
    def endpoints(self) -> tuple[RequestSpec, ...]:
        """One request per distinct step name: the units results are grouped by."""
        seen: dict[str, RequestSpec] = {}
        for request in self.requests:
            seen.setdefault(request.name, request)
        return tuple(seen.values())
