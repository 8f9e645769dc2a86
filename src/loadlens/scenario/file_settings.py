"""A scenario file's own settings (load, limits, name), YAML or Python alike, and the
Scenario they make with the command line's flags over them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadlens.scenario.file_model import FileLoad
from loadlens.scenario.from_flags import RunFlags, build_load
from loadlens.scenario.model import (
    DEFAULT_MAX_BODY,
    DEFAULT_TIMEOUT_S,
    LoadSpec,
    Scenario,
    connect_timeout_for,
)
from loadlens.scenario.units import InputError, parse_duration, parse_size
from loadlens.scenario.yaml_source import SourceError

__all__ = [
    "LOAD_FLAG_FIELDS",
    "MODEL_FLAGS",
    "FileSettings",
    "merge_load_flags",
    "resolve_max_body",
    "resolve_timeouts",
    "scenario_of_file",
]

# The RunFlags fields a scenario file's `load` section may set (flags override them).
LOAD_FLAG_FIELDS = (
    "users", "duration", "rate", "max_users", "stages", "rate_stages", "iterations", "ramp_up",
    "step", "max_steps", "slo_p95", "slo_error_rate",
)  # fmt: skip

# Flags that say which load model runs: given, they replace the file's model entirely.
MODEL_FLAGS = frozenset({"rate", "rate_stages", "stages", "users", "iterations", "step"})


def merge_load_flags(load: FileLoad, overrides: RunFlags) -> RunFlags:
    """The file's load section under the command line's flags (a flag wins)."""
    values: dict[str, Any] = {}
    for name in LOAD_FLAG_FIELDS:
        if name in ("rate_stages",):
            continue
        value = getattr(load, name, None)
        if value is not None:
            values[name] = value
    stages = values.pop("stages", None)
    if stages is not None:
        if isinstance(stages, list):
            key = "target"
            stages = ",".join(f"{s.get('duration')}:{s.get(key)}" for s in stages)
        # Open models ramp a rate, closed ones a number of users; the executor says which.
        is_rate = (load.executor or "").endswith("arrival-rate") or "/" in str(stages)
        values["rate_stages" if is_rate else "stages"] = stages
    # A flag on the command line wins over the file, for that key and any it conflicts with.
    flagged = {n for n in LOAD_FLAG_FIELDS if getattr(overrides, n) is not None}
    if flagged & MODEL_FLAGS:
        for name in ("rate", "rate_stages", "stages", "users", "iterations", "step", "max_users"):
            values.pop(name, None)
    merged: dict[str, Any] = {
        k: str(v) if k not in ("users", "max_users", "iterations", "max_steps") else v
        for k, v in values.items()
    }
    merged.update({n: getattr(overrides, n) for n in flagged})
    return dataclasses.replace(overrides, **merged)


def resolve_timeouts(
    timeout: float | None, connect_timeout: float | None, overrides: RunFlags | None
) -> tuple[float, float]:
    """A file's whole-request and connect timeouts (10 s, min(5 s, timeout)) under the
    command line's; raises InputError for a flag that is not a duration."""
    whole = timeout or DEFAULT_TIMEOUT_S
    connect = connect_timeout or connect_timeout_for(whole)
    if overrides and overrides.timeout:
        whole = parse_duration(overrides.timeout, what="--timeout")
    if overrides and overrides.connect_timeout:
        connect = parse_duration(overrides.connect_timeout, what="--connect-timeout")
    return whole, connect


def resolve_max_body(max_body: int | None, overrides: RunFlags | None) -> int:
    """A file's max_body (4 MiB) under the command line's --max-body; raises InputError for
    a flag that is not a size."""
    if overrides and overrides.max_body:
        return parse_size(overrides.max_body, what="--max-body")
    return max_body or DEFAULT_MAX_BODY


@dataclass(frozen=True, slots=True)
class FileSettings:
    """What a scenario file sets besides its requests: its name, load, limits and defaults."""

    path: Path
    name: str | None
    load: FileLoad
    thresholds: tuple[str, ...] = ()
    timeout: float | None = None
    connect_timeout: float | None = None
    max_body: int | None = None
    insecure: bool = False
    cookies: bool = True
    load_line: int | None = None  # where the file sets `load`, for its errors
    secret_params: tuple[str, ...] = ()  # query keys whose values results mask


def scenario_of_file(
    settings: FileSettings,
    overrides: RunFlags | None,
    *,
    check_load: Callable[[LoadSpec], None] | None = None,
    **parts: Any,
) -> Scenario:
    """The Scenario of a file's settings and requests (`parts`: flows, script, ...), the
    command line's flags over the settings; raises SourceError, `check_load`'s included."""
    file = str(settings.path)
    flags = merge_load_flags(settings.load, overrides or RunFlags(target=file))
    try:
        load = build_load(flags)
    except InputError as err:
        raise SourceError(file, settings.load_line, "load", str(err)) from None
    if check_load is not None:
        check_load(load)
    try:
        timeout, connect_timeout = resolve_timeouts(
            settings.timeout, settings.connect_timeout, overrides
        )
        max_body = resolve_max_body(settings.max_body, overrides)
    except InputError as err:  # a flag's value, not the file's: no line to name
        raise SourceError(file, None, "", str(err)) from None
    return Scenario(
        name=(overrides.name if overrides and overrides.name else None)
        or settings.name
        or settings.path.stem,
        load=load,
        timeout=timeout,
        connect_timeout=connect_timeout,
        max_body=max_body,
        insecure=settings.insecure or bool(overrides and overrides.insecure),
        thresholds=settings.thresholds + tuple(overrides.thresholds if overrides else ()),
        abort_on_fail=bool(overrides and overrides.abort_on_fail),
        graceful_stop=timeout,
        cookies=settings.cookies,
        secret_params=settings.secret_params + tuple(overrides.secret_params if overrides else ()),
        show_secrets=bool(overrides and overrides.show_secrets),
        **parts,
    )
