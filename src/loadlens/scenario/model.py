"""The scenario: what to request and how hard, validated once and frozen."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from loadlens.redaction import check_param_name
from loadlens.scenario.load import LoadSpec

__all__ = [
    "CheckSpec",
    "DataSource",
    "ExtractSpec",
    "Flow",
    "LoadSpec",
    "RequestSpec",
    "Scenario",
    "Step",
    "ThinkTime",
]

_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class ExtractSpec(BaseModel):
    """Take a value from a response into the user's variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variable: str
    source: Literal["json", "regex", "header", "cookie"]
    expression: str  # a JSONPath, a regular expression, a header or a cookie name
    group: int = Field(default=1, ge=0, description="regex: which group (0: the whole match)")


CheckKind = Literal[
    "status", "json-exists", "json-equals", "json-matches", "body-contains", "body-matches",
    "header-equals", "header-contains", "header-matches", "max-latency",
]  # fmt: skip


class CheckSpec(BaseModel):
    """One expectation about a response; its `name` is what results count it under."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: CheckKind
    target: str = ""  # the JSONPath or header name the check looks at
    # status: [[low, high], ...]; json-equals: the JSON value; *-matches: a regex;
    # *-contains / header-equals: text; max-latency: milliseconds
    value: Any = None


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
    basic_auth: tuple[str, str] | None = None  # templated credentials, encoded per request
    extract: tuple[ExtractSpec, ...] = ()
    checks: tuple[CheckSpec, ...] = ()

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


class DataSource(BaseModel):
    """Rows from a CSV or JSON file that users take values from (`{{ name.column }}`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    file: str
    rows: tuple[dict[str, str], ...] = Field(min_length=1)
    order: Literal["sequential", "random", "unique"] = "sequential"
    on_exhausted: Literal["recycle", "stop"] = "recycle"

    @property
    def columns(self) -> list[str]:
        """The variables a row defines: `name.column`."""
        return [f"{self.name}.{column}" for column in self.rows[0]]


DEFAULT_TIMEOUT_S = 10.0  # a whole request
DEFAULT_CONNECT_TIMEOUT_S = 5.0  # a TCP (and TLS) connect, unless the whole timeout is less


# The most of a response body kept for a step's checks and extraction (or a Python
# scenario); the rest is read, counted in bytes_in and dropped.
DEFAULT_MAX_BODY = 4 * 1024 * 1024


def connect_timeout_for(timeout: float) -> float:
    """The connect timeout a run gets when none is given: 5 s, or less with a short timeout."""
    return min(DEFAULT_CONNECT_TIMEOUT_S, timeout)


class Scenario(BaseModel):
    """A complete, validated description of one load test run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "run"
    tags: dict[str, str] = Field(default_factory=dict)  # --tag key=value: filters history
    variables: dict[str, str | int | float | bool] = Field(default_factory=dict)
    flows: tuple[Flow, ...] = ()
    on_start: Flow | None = None  # steps each user runs once, before its first iteration
    script: str | None = None  # a Python scenario's file: its @flow functions are the flows
    load: LoadSpec
    timeout: float = Field(
        default=DEFAULT_TIMEOUT_S, gt=0, description="whole-request timeout, seconds"
    )
    connect_timeout: float = Field(
        default=DEFAULT_CONNECT_TIMEOUT_S, gt=0, description="TCP+TLS connect, seconds"
    )
    max_body: int = Field(
        default=DEFAULT_MAX_BODY, gt=0, description="most of a body kept for checks, bytes"
    )
    insecure: bool = False
    thresholds: tuple[str, ...] = ()
    abort_on_fail: bool = False
    graceful_stop: float = Field(default=10.0, ge=0, description="wait for in-flight, seconds")
    cookies: bool = False  # keep a cookie jar per user
    data: tuple[DataSource, ...] = ()
    base_url: str | None = None  # what a Python scenario's relative paths are joined to
    headers: tuple[tuple[str, str], ...] = ()  # a Python scenario's default headers
    # Query keys whose values the result masks, besides redaction.SECRET_PARAMS.
    secret_params: tuple[str, ...] = ()
    show_secrets: bool = False  # --show-secrets: the result keeps credentials as given

    @field_validator("secret_params")
    @classmethod
    def _param_names(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_param_name(name) for name in v)

    @model_validator(mode="after")
    def _flows_or_script(self) -> Scenario:
        if not self.flows and self.script is None:
            raise ValueError("a scenario needs at least one flow (or a Python script)")
        return self

    @property
    def requests(self) -> tuple[RequestSpec, ...]:
        """Every step's request: on_start's, then flow by flow, in order."""
        flows = (self.on_start, *self.flows) if self.on_start is not None else self.flows
        return tuple(step.request for flow in flows for step in flow.steps)

    @property
    def endpoints(self) -> tuple[RequestSpec, ...]:
        """One request per distinct step name: the units results are grouped by."""
        seen: dict[str, RequestSpec] = {}
        for request in self.requests:
            seen.setdefault(request.name, request)
        return tuple(seen.values())

    @property
    def checks(self) -> tuple[str, ...]:
        """Every distinct check name, in the order results list them."""
        return tuple(dict.fromkeys(c.name for r in self.requests for c in r.checks))
