"""Turns a scenario file into a validated Scenario, or an error with file, line and key."""

from __future__ import annotations

import dataclasses
import difflib
import json
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote_plus, urljoin, urlsplit

from pydantic import BaseModel, ValidationError

from loadlens.metrics.thresholds import ThresholdError, parse_threshold
from loadlens.scenario.file_model import FileLoad, FileStep, ScenarioFile
from loadlens.scenario.from_flags import RunFlags, build_load
from loadlens.scenario.model import Flow, RequestSpec, Scenario, Step, ThinkTime
from loadlens.scenario.templating import TemplateError, compile_template, has_template
from loadlens.scenario.units import InputError, parse_duration
from loadlens.scenario.yaml_source import Located, SourceError, read_yaml

__all__ = ["LOAD_FLAG_FIELDS", "is_scenario_file", "load_scenario_file"]

# The RunFlags fields a scenario file's `load` section may set (flags override them).
LOAD_FLAG_FIELDS = (
    "users", "duration", "rate", "max_users", "stages", "rate_stages", "iterations", "ramp_up",
    "step", "max_steps", "slo_p95", "slo_error_rate",
)  # fmt: skip


def is_scenario_file(target: str) -> bool:
    """Whether `loadlens run TARGET` names a scenario file rather than a URL."""
    return target.endswith((".yaml", ".yml")) or ("://" not in target and Path(target).is_file())


def _key(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fields_at(model: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    """The keys the model allows at `path` (for a "did you mean" hint)."""
    current: Any = model
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        info = current.model_fields.get(part) or next(
            (f for f in current.model_fields.values() if f.alias == part), None
        )
        if info is None:
            return []
        models = _models_in(info.annotation)
        if not models:
            return []
        current = models[0]
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_models_in(arg))
    return found


def _explain(error: dict[str, Any], located: Located) -> SourceError:
    path = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        name = str(path[-1])
        allowed = _fields_at(ScenarioFile, path[:-1])
        close = difflib.get_close_matches(name, allowed, n=1)
        message = f"unknown key {name!r}"
        if close:
            message += f"; did you mean {close[0]!r}?"
        elif allowed:
            message += f"; expected one of: {', '.join(sorted(allowed))}"
    elif error["type"] == "missing":
        message = "this key is required here"
    return SourceError(located.file, located.line_of(path), _key(path), message)


def _check_templates(
    value: Any, path: tuple[str | int, ...], located: Located, known: set[str]
) -> None:
    """Compile every `{{ }}` in the file now, so a bad one is reported with its line."""
    if isinstance(value, str) and has_template(value):
        try:
            compile_template(value, known)
        except TemplateError as e:
            raise SourceError(located.file, located.line_of(path), _key(path), str(e)) from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_templates(v, (*path, k), located, known)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_templates(v, (*path, i), located, known)


def _query(params: dict[str, Any]) -> str:
    # Templated values stay as written: they are URL-escaped when rendered per request.
    return "&".join(
        f"{quote_plus(str(k))}="
        + (str(v) if isinstance(v, str) and has_template(v)
           else quote_plus(str(v).lower() if isinstance(v, bool) else str(v)))
        for k, v in params.items()
    )  # fmt: skip


def _request(
    step: FileStep, spec: ScenarioFile, where: tuple[str | int, ...], located: Located
) -> RequestSpec:
    method = step.method.upper()
    if step.url is not None:
        url = step.url
    else:
        if not spec.base_url:
            raise SourceError(
                located.file,
                located.line_of((*where, "path")),
                _key((*where, "path")),
                "a `path` needs `base_url` at the top of the file (or use `url`)",
            )
        url = urljoin(spec.base_url.rstrip("/") + "/", str(step.path).lstrip("/"))
    if step.query:
        url += ("&" if urlsplit(url).query else "?") + _query(step.query)
    headers = {str(k): str(v) for k, v in {**spec.defaults.headers, **step.headers}.items()}
    lower = {k.lower() for k in headers}
    body: bytes | None = None
    body_kind: Literal["raw", "json", "form"] = (
        "json" if step.json_body is not None else "form" if step.form is not None else "raw"
    )
    if step.json_body is not None:
        body = json.dumps(step.json_body, separators=(",", ":")).encode()
        if "content-type" not in lower:
            headers["Content-Type"] = "application/json"
    elif step.form is not None:
        body = _query(step.form).encode()
        if "content-type" not in lower:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif step.body is not None:
        body = step.body.encode()
    name = step.name or f"{method} {step.path if step.path is not None else step.url}"
    try:
        return RequestSpec(
            name=name,
            method=method,
            url=url,
            headers=tuple(headers.items()),
            body=body,
            timeout=step.timeout,
            body_kind=body_kind,
        )
    except ValidationError as e:
        err = e.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "url"
        key = {"url": "path" if step.path is not None else "url"}.get(field, field)
        raise SourceError(
            located.file,
            located.line_of((*where, key)),
            _key((*where, key)),
            str(err["msg"]).removeprefix("Value error, "),
        ) from None


def _think(step: FileStep, spec: ScenarioFile) -> ThinkTime | None:
    think = step.think_time if step.think_time is not None else spec.defaults.think_time
    if think is None or think == (0.0, 0.0):
        return None
    return ThinkTime(low=think[0], high=think[1])


def _flows(spec: ScenarioFile, located: Located) -> tuple[Flow, ...]:
    if spec.requests is not None:
        # A weighted set of requests: each iteration picks one, as a one-step flow.
        return tuple(
            Flow(name=f"request {i + 1}", weight=step.weight,
                 steps=(Step(request=_request(step, spec, ("requests", i), located),
                             think_time=_think(step, spec)),))
            for i, step in enumerate(spec.requests)
        )  # fmt: skip
    assert spec.flows is not None
    return tuple(
        Flow(name=flow.name, weight=flow.weight, pacing=flow.pacing,
             steps=tuple(Step(request=_request(step, spec, ("flows", f, "steps", s), located),
                              think_time=_think(step, spec))
                         for s, step in enumerate(flow.steps)))
        for f, flow in enumerate(spec.flows)
    )  # fmt: skip


def _load_flags(load: FileLoad, overrides: RunFlags) -> RunFlags:
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
    if flagged & {"rate", "rate_stages", "stages", "users", "iterations", "step"}:
        for name in ("rate", "rate_stages", "stages", "users", "iterations", "step", "max_users"):
            values.pop(name, None)
    merged: dict[str, Any] = {
        k: str(v) if k not in ("users", "max_users", "iterations", "max_steps") else v
        for k, v in values.items()
    }
    merged.update({n: getattr(overrides, n) for n in flagged})
    return dataclasses.replace(overrides, **merged)


def load_scenario_file(path: Path, overrides: RunFlags | None = None) -> Scenario:
    """Read, validate and convert a scenario file; every problem names file, line and key."""
    located = read_yaml(path)
    if not isinstance(located.data, dict):
        raise SourceError(located.file, 1, "", "a scenario file is a mapping of keys")
    try:
        spec = ScenarioFile.model_validate(located.data)
    except ValidationError as e:
        raise _explain(dict(e.errors()[0]), located) from None  # the first problem, precisely
    for section in ("requests", "flows", "defaults"):
        _check_templates(located.data.get(section), (section,), located, set(spec.variables))
    for i, expression in enumerate(spec.thresholds):
        try:
            parse_threshold(expression)
        except ThresholdError as err:
            raise SourceError(
                located.file, located.line_of(("thresholds", i)), f"thresholds[{i}]", str(err)
            ) from None
    flows = _flows(spec, located)
    flags = _load_flags(spec.load, overrides or RunFlags(target=str(path)))
    try:
        load = build_load(flags)
    except InputError as err:
        raise SourceError(located.file, located.line_of(("load",)), "load", str(err)) from None
    if spec.load.executor and load.executor != spec.load.executor:
        raise SourceError(
            located.file, located.line_of(("load", "executor")), "load.executor",
            f"says {spec.load.executor!r} but its keys describe {load.executor!r}; "
            "constant-vus: users+duration, ramping-vus: stages, constant-arrival-rate: "
            "rate+duration, ramping-arrival-rate: stages of rates, per-vu-iterations: "
            "users+iterations, capacity: rate+step",
        )  # fmt: skip
    timeout = spec.defaults.timeout or 10.0
    connect_timeout = spec.defaults.connect_timeout or min(5.0, timeout)
    try:
        if overrides and overrides.timeout:
            timeout = parse_duration(overrides.timeout, what="--timeout")
        if overrides and overrides.connect_timeout:
            connect_timeout = parse_duration(overrides.connect_timeout, what="--connect-timeout")
    except InputError as err:
        raise SourceError(located.file, None, "", str(err)) from None
    return Scenario(
        name=(overrides.name if overrides and overrides.name else None) or spec.name or path.stem,
        variables=spec.variables,
        flows=flows,
        load=load,
        timeout=timeout,
        connect_timeout=connect_timeout,
        insecure=spec.defaults.insecure or bool(overrides and overrides.insecure),
        thresholds=tuple(spec.thresholds) + tuple(overrides.thresholds if overrides else ()),
        abort_on_fail=bool(overrides and overrides.abort_on_fail),
        graceful_stop=timeout,
    )
