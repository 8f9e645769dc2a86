"""The scenario file format (YAML), as pydantic models: what each key may hold.

These models only describe the file; `file_loader` turns a validated file into the
engine's `Scenario`. Durations read `500ms`, `30s`, `5m` or a number of seconds; sizes
`4MiB`, `64KiB`, `1MB` or a number of bytes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from loadlens.redaction import check_param_name
from loadlens.scenario.units import InputError, parse_duration, parse_size

__all__ = [
    "FileAuth",
    "FileChecks",
    "FileData",
    "FileDefaults",
    "FileExtract",
    "FileFlow",
    "FileJsonCheck",
    "FileLoad",
    "FileStep",
    "ScenarioFile",
]


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 500ms, 5m")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError("expected a duration such as 30s, 500ms, 5m")


def _think(value: Any) -> tuple[float, float]:
    """`1s` (constant) or `[1s, 3s]` (uniform between the two)."""
    if isinstance(value, list):
        if len(value) != 2:
            raise ValueError("a think-time range is [low, high], e.g. [1s, 3s]")
        low, high = _seconds(value[0]), _seconds(value[1])
        if high < low:
            raise ValueError(f"think-time range [{value[0]}, {value[1]}] runs backwards")
        return low, high
    seconds = _seconds(value)
    return seconds, seconds


def _bytes(value: Any) -> int:
    try:
        return parse_size(value)
    except InputError as e:
        raise ValueError(str(e).removeprefix("size: ")) from None


Seconds = Annotated[float, BeforeValidator(_seconds)]
Bytes = Annotated[int, BeforeValidator(_bytes)]
ThinkRange = Annotated[tuple[float, float], BeforeValidator(_think)]
Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FileAuth(_Strict):
    """`basic: [user, password]` or `bearer: TOKEN` (either may hold templates)."""

    basic: tuple[str, str] | None = None
    bearer: str | None = None

    @model_validator(mode="after")
    def _one_scheme(self) -> FileAuth:
        if (self.basic is None) == (self.bearer is None):
            raise ValueError("give one of `basic: [user, password]` or `bearer: TOKEN`")
        return self


class FileDefaults(_Strict):
    """Settings every step inherits unless it says otherwise."""

    headers: dict[str, Scalar] = Field(default_factory=dict)
    timeout: Seconds | None = None
    connect_timeout: Seconds | None = None
    max_body: Bytes | None = None  # the most of a body kept for checks; the rest is counted
    think_time: ThinkRange | None = None
    insecure: bool = False
    cookies: bool = True
    auth: FileAuth | None = None


class FileExtract(_Strict):
    """Where a variable's value comes from: one of json, regex, header, cookie."""

    json_path: str | None = Field(default=None, alias="json")
    regex: str | None = None
    header: str | None = None
    cookie: str | None = None
    group: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_source(self) -> FileExtract:
        given = [k for k in ("json_path", "regex", "header", "cookie") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of `json`, `regex`, `header`, `cookie`")
        if self.group is not None and self.regex is None:
            raise ValueError("`group` goes with `regex`")
        return self


class FileJsonCheck(_Strict):
    """A check on a JSONPath: `exists`, `equals` or `matches`."""

    path: str
    exists: bool | None = None
    equals: Any = None
    matches: str | None = None

    @model_validator(mode="after")
    def _one_test(self) -> FileJsonCheck:
        given = [k for k in ("exists", "equals", "matches") if k in self.model_fields_set]
        if len(given) > 1:
            raise ValueError(f"one test per entry; this one has {', '.join(given)}")
        if not given:
            self.exists = True  # a bare path: it must be there
        return self


class FileHeaderCheck(_Strict):
    """A check on a header: `equals`, `contains` or `matches`."""

    equals: str | None = None
    contains: str | None = None
    matches: str | None = None

    @model_validator(mode="after")
    def _one_test(self) -> FileHeaderCheck:
        if len([k for k in ("equals", "contains", "matches") if getattr(self, k) is not None]) != 1:
            raise ValueError("give exactly one of `equals`, `contains`, `matches`")
        return self


def _json_check(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value  # a bare path: it exists


def _header_check(value: Any) -> Any:
    return {"equals": str(value)} if isinstance(value, str | int | float) else value


class FileChecks(_Strict):
    """What a response must look like for its request to count as a success."""

    status: int | str | list[int | str] | None = None
    max_latency: Seconds | None = None
    body_contains: str | None = None
    body_matches: str | None = None
    headers: dict[str, Annotated[FileHeaderCheck, BeforeValidator(_header_check)]] = Field(
        default_factory=dict
    )
    json_checks: list[Annotated[FileJsonCheck, BeforeValidator(_json_check)]] = Field(
        default_factory=list, alias="json"
    )


class FileData(_Strict):
    """A CSV or JSON file of rows for users to take values from."""

    file: str
    order: Literal["sequential", "random", "unique"] = "sequential"
    on_exhausted: Literal["recycle", "stop"] = "recycle"


class FileStep(_Strict):
    """One request: where, what, and the pause after it."""

    name: str | None = None
    method: str = "GET"
    path: str | None = None
    url: str | None = None
    query: dict[str, Scalar] = Field(default_factory=dict)
    headers: dict[str, Scalar] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    form: dict[str, Scalar] | None = None
    body: str | None = None
    timeout: Seconds | None = None
    think_time: ThinkRange | None = None
    weight: float = Field(default=1.0, gt=0)
    auth: FileAuth | Literal["none"] | None = None  # "none": not the defaults' either
    extract: dict[str, FileExtract] = Field(default_factory=dict)
    checks: FileChecks | None = None

    @model_validator(mode="after")
    def _one_target_one_body(self) -> FileStep:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of `path` (joined to base_url) or `url`")
        bodies = [k for k in ("json_body", "form", "body") if getattr(self, k) is not None]
        if len(bodies) > 1:
            names = ", ".join("json" if b == "json_body" else b for b in bodies)
            raise ValueError(f"a step has one body; this one has {names}")
        return self


class FileFlow(_Strict):
    """Ordered steps each user runs per iteration."""

    name: str
    weight: float = Field(default=1.0, gt=0)
    pacing: Seconds | None = None
    steps: list[FileStep] = Field(min_length=1)


class FileLoad(_Strict):
    """The load model and its parameters (any command-line flag overrides its key)."""

    executor: str | None = None
    users: int | None = None
    duration: str | float | None = None
    rate: str | float | None = None
    max_users: int | None = None
    stages: list[dict[str, Any]] | str | None = None
    iterations: int | None = None
    ramp_up: str | float | None = None
    step: str | float | None = None
    max_steps: int | None = None
    slo_p95: str | float | None = None
    slo_error_rate: str | float | None = None


class ScenarioFile(_Strict):
    """A whole scenario file."""

    name: str | None = None
    base_url: str | None = None
    variables: dict[str, Scalar] = Field(default_factory=dict)
    data: dict[str, FileData] = Field(default_factory=dict)
    defaults: FileDefaults = Field(default_factory=FileDefaults)
    load: FileLoad = Field(default_factory=FileLoad)
    thresholds: list[str] = Field(default_factory=list)
    # Query keys whose values results mask, besides the usual ones (token, password, ...).
    secret_params: list[Annotated[str, AfterValidator(check_param_name)]] = Field(
        default_factory=list
    )
    on_start: list[FileStep] | None = Field(default=None, min_length=1)
    requests: list[FileStep] | None = Field(default=None, min_length=1)
    flows: list[FileFlow] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _requests_or_flows(self) -> ScenarioFile:
        if (self.requests is None) == (self.flows is None):
            raise ValueError("give either `requests` (a weighted set) or `flows`, not both")
        return self
