"""Builds a Scenario from `loadlens run URL` flags: the one place flags become settings."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from loadlens.scenario.load import (
    Capacity,
    ConstantArrivalRate,
    ConstantVUs,
    PerVUIterations,
    RampingArrivalRate,
    RampingVUs,
    RateStage,
    VUStage,
)
from loadlens.scenario.model import (
    DEFAULT_MAX_BODY,
    DEFAULT_TIMEOUT_S,
    Flow,
    LoadSpec,
    RequestSpec,
    Scenario,
    Step,
    connect_timeout_for,
)
from loadlens.scenario.units import (
    InputError,
    parse_duration,
    parse_rate,
    parse_rate_stages,
    parse_size,
    parse_vu_stages,
)

__all__ = ["RunFlags", "build_load", "scenario_from_flags"]

DEFAULT_USERS = 10
DEFAULT_DURATION = "10s"


@dataclass
class RunFlags:
    """The raw flags of `loadlens run`, as typed."""

    target: str
    users: int | None = None
    duration: str | None = None
    rate: str | None = None
    max_users: int | None = None
    stages: str | None = None
    rate_stages: str | None = None
    iterations: int | None = None
    ramp_up: str | None = None
    step: str | None = None
    max_steps: int | None = None
    slo_p95: str | None = None
    slo_error_rate: str | None = None
    method: str | None = None
    headers: list[str] = field(default_factory=list)
    json_body: str | None = None
    body: str | None = None
    timeout: str | None = None
    connect_timeout: str | None = None
    max_body: str | None = None
    insecure: bool = False
    thresholds: list[str] = field(default_factory=list)
    abort_on_fail: bool = False
    name: str | None = None
    base_url: str | None = None  # scenario files: replaces the file's base_url
    secret_params: list[str] = field(default_factory=list)  # more query keys to mask
    show_secrets: bool = False


def _conflict(flags: RunFlags, a: str, b: str) -> None:
    if getattr(flags, a) is not None and getattr(flags, b) is not None:
        raise InputError(
            f"--{a.replace('_', '-')} and --{b.replace('_', '-')} cannot be used together"
        )


def _headers(raw: list[str]) -> list[tuple[str, str]]:
    out = []
    for h in raw:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            raise InputError(f"-H {h!r}: expected 'Name: value'")
        out.append((name.strip(), value.strip()))
    return out


def _body(flags: RunFlags, headers: list[tuple[str, str]]) -> bytes | None:
    _conflict(flags, "json_body", "body")
    if flags.json_body is not None:
        try:
            json.loads(flags.json_body)
        except json.JSONDecodeError as e:
            raise InputError(f"--json: not valid JSON ({e})") from None
        if not any(n.lower() == "content-type" for n, _ in headers):
            headers.append(("Content-Type", "application/json"))
        return flags.json_body.encode()
    if flags.body is None:
        return None
    if flags.body.startswith("@"):
        path = Path(flags.body[1:])
        try:
            return path.read_bytes()
        except OSError as e:
            raise InputError(f"--body {flags.body}: cannot read {path} ({e.strerror})") from None
    return flags.body.encode()


def _load(flags: RunFlags) -> object:  # a LoadSpec member; pydantic checks it in Scenario
    if flags.step is not None:
        _conflict(flags, "step", "rate_stages")
    for a, b in [
        ("rate", "stages"),
        ("rate", "rate_stages"),
        ("stages", "rate_stages"),
        ("iterations", "rate"),
        ("iterations", "rate_stages"),
        ("iterations", "stages"),
        ("stages", "ramp_up"),
        ("rate_stages", "ramp_up"),
        ("stages", "duration"),
        ("rate_stages", "duration"),
        ("users", "rate"),
        ("users", "rate_stages"),
        ("users", "stages"),
    ]:
        _conflict(flags, a, b)
    if flags.users is not None and flags.users < 1:
        raise InputError(f"-u/--users: {flags.users} must be at least 1")
    if flags.max_users is not None and flags.max_users < 1:
        raise InputError(f"--max-users: {flags.max_users} must be at least 1")
    if flags.iterations is not None and flags.iterations < 1:
        raise InputError(f"-i/--iterations: {flags.iterations} must be at least 1")
    open_model = flags.rate is not None or flags.rate_stages is not None
    if flags.max_users is not None and not open_model:
        raise InputError("--max-users applies to --rate or --rate-stages (open models)")
    ramp = parse_duration(flags.ramp_up, what="--ramp-up") if flags.ramp_up else None
    duration = parse_duration(flags.duration or DEFAULT_DURATION, what="-d/--duration")
    if flags.step is not None:
        return _capacity(flags, duration, ramp)
    for option in ("max_steps", "slo_p95", "slo_error_rate"):
        if getattr(flags, option) is not None:
            raise InputError(f"--{option.replace('_', '-')} applies to --step (capacity runs)")

    if flags.stages is not None:
        return RampingVUs(
            stages=tuple(VUStage(duration=d, target=t) for d, t in parse_vu_stages(flags.stages))
        )
    if flags.rate_stages is not None:
        stages = parse_rate_stages(flags.rate_stages)
        peak = max(t for _, t in stages)
        return RampingArrivalRate(
            stages=tuple(RateStage(duration=d, target=t) for d, t in stages),
            max_users=flags.max_users or _default_max_users(peak),
        )
    if flags.rate is not None:
        rate = parse_rate(flags.rate, what="--rate")
        if rate <= 0:
            raise InputError("--rate: must be above 0")
        max_users = flags.max_users or _default_max_users(rate)
        if ramp:
            return RampingArrivalRate(
                stages=(
                    RateStage(duration=ramp, target=rate),
                    RateStage(duration=duration, target=rate),
                ),
                max_users=max_users,
            )
        return ConstantArrivalRate(rate=rate, duration=duration, max_users=max_users)
    users = flags.users or DEFAULT_USERS
    if flags.iterations is not None:
        if ramp:
            raise InputError("--ramp-up does not apply to -i/--iterations")
        if flags.duration:
            return PerVUIterations(users=users, iterations=flags.iterations, max_duration=duration)
        return PerVUIterations(users=users, iterations=flags.iterations)
    if ramp:
        return RampingVUs(
            stages=(VUStage(duration=ramp, target=users), VUStage(duration=duration, target=users))
        )
    return ConstantVUs(users=users, duration=duration)


def _capacity(flags: RunFlags, step_duration: float, ramp: float | None) -> Capacity:
    if flags.rate is None:
        raise InputError(
            "--step needs --rate, the first step's rate (e.g. --rate 100/s --step 50/s)"
        )
    if ramp:
        raise InputError("--ramp-up does not apply to --step: the steps are the ramp")
    start = parse_rate(flags.rate, what="--rate")
    step = parse_rate(flags.step or "", what="--step")
    if start <= 0 or step <= 0:
        raise InputError("--rate and --step must be above 0")
    max_steps = flags.max_steps if flags.max_steps is not None else 20
    if max_steps < 1:
        raise InputError("--max-steps must be at least 1")
    if step_duration < 1:
        raise InputError("-d/--duration (each step's length) must be at least 1s for --step")
    slo_p95 = parse_duration(flags.slo_p95 or "100ms", what="--slo-p95") * 1000
    error_rate = 0.01
    if flags.slo_error_rate is not None:
        text = flags.slo_error_rate.strip()
        try:
            error_rate = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
        except ValueError:
            raise InputError(f"--slo-error-rate: cannot read {text!r}; e.g. 1% or 0.01") from None
    peak = start + step * (max_steps - 1)
    return Capacity(
        start_rate=start,
        step_rate=step,
        step_duration=step_duration,
        max_steps=max_steps,
        slo_p95_ms=slo_p95,
        slo_error_rate=error_rate,
        max_users=flags.max_users or _default_max_users(peak),
    )


def _default_max_users(rate: float) -> int:
    # Enough users to keep the rate going while responses take up to a second.
    return max(100, math.ceil(rate))


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
    return f"{where}: {err['msg']}" if where else str(err["msg"])


def build_load(flags: RunFlags) -> LoadSpec:
    """The load model the load flags describe; raises InputError naming the flag."""
    try:
        return _LOAD_ADAPTER.validate_python(_load(flags))
    except ValidationError as e:
        raise InputError(_first_error(e)) from None


_LOAD_ADAPTER: TypeAdapter[LoadSpec] = TypeAdapter(LoadSpec)


def scenario_from_flags(flags: RunFlags) -> Scenario:
    """Validate the flags into a Scenario; raises InputError saying which flag is wrong."""
    if flags.base_url is not None:
        raise InputError("--base-url applies to a scenario file; with a URL, give the URL")
    headers = _headers(flags.headers)
    body = _body(flags, headers)
    method = (flags.method or ("POST" if body is not None else "GET")).upper()
    try:
        request = RequestSpec(
            name=f"{method} {flags.target}",
            method=method,
            url=flags.target,
            headers=tuple(headers),
            body=body,
        )
    except ValidationError as e:
        field_name = str(e.errors()[0]["loc"][0]) if e.errors()[0]["loc"] else "url"
        flag = {"url": "URL", "method": "-X/--method", "headers": "-H"}.get(field_name, field_name)
        msg = str(e.errors()[0]["msg"]).removeprefix("Value error, ")
        raise InputError(f"{flag}: {msg}") from None
    timeout = (
        parse_duration(flags.timeout, what="--timeout") if flags.timeout else DEFAULT_TIMEOUT_S
    )
    connect_timeout = (
        parse_duration(flags.connect_timeout, what="--connect-timeout")
        if flags.connect_timeout
        else connect_timeout_for(timeout)
    )
    if timeout <= 0 or connect_timeout <= 0:
        raise InputError("--timeout and --connect-timeout must be above 0")
    max_body = parse_size(flags.max_body, what="--max-body") if flags.max_body else DEFAULT_MAX_BODY
    try:
        return Scenario(
            name=flags.name or flags.target,
            flows=(Flow(name="default", steps=(Step(request=request),)),),
            load=build_load(flags),
            timeout=timeout,
            connect_timeout=connect_timeout,
            max_body=max_body,
            insecure=flags.insecure,
            thresholds=tuple(flags.thresholds),
            abort_on_fail=flags.abort_on_fail,
            graceful_stop=timeout,
            secret_params=tuple(flags.secret_params),
            show_secrets=flags.show_secrets,
        )
    except ValidationError as e:
        raise InputError(_first_error(e)) from None
