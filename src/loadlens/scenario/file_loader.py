"""Turns a scenario file into a validated Scenario, or an error with file, line and key."""

from __future__ import annotations

import base64
import difflib
import json
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote_plus, urljoin, urlsplit

from pydantic import BaseModel, ValidationError

from loadlens.metrics.thresholds import ThresholdError, parse_threshold
from loadlens.scenario.data_files import DataFileError, read_rows
from loadlens.scenario.file_model import FileAuth, FileStep, ScenarioFile
from loadlens.scenario.file_rules import checks_of, extractions_of
from loadlens.scenario.file_settings import MODEL_FLAGS, FileSettings, scenario_of_file
from loadlens.scenario.from_flags import RunFlags
from loadlens.scenario.model import (
    DataSource,
    Flow,
    LoadSpec,
    RequestSpec,
    Scenario,
    Step,
    ThinkTime,
)
from loadlens.scenario.templating import (
    TemplateError,
    compile_template,
    has_template,
    map_literal_text,
    template_variables,
)
from loadlens.scenario.yaml_source import Located, SourceError, read_yaml

__all__ = ["load_scenario_file"]


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
    # In a templated value the holes stay as written: they are escaped when rendered.
    return "&".join(
        f"{quote_plus(str(k))}="
        + (map_literal_text(v, quote_plus) if isinstance(v, str)
           else quote_plus(str(v).lower() if isinstance(v, bool) else str(v)))
        for k, v in params.items()
    )  # fmt: skip


def _auth(auth: FileAuth | None, headers: dict[str, str]) -> tuple[str, str] | None:
    """Bearer and literal basic credentials become a header; templated basic is encoded
    per request (its base64 covers the rendered values)."""
    if auth is None or any(k.lower() == "authorization" for k in headers):
        return None  # an explicit Authorization header wins
    if auth.bearer is not None:
        headers["Authorization"] = f"Bearer {auth.bearer}"
        return None
    assert auth.basic is not None
    user, password = auth.basic
    if has_template(user) or has_template(password):
        return (user, password)
    headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return None


def _used_before_defined(
    request: RequestSpec, known: set[str], located: Located, where: tuple[str | int, ...]
) -> None:
    """A step may only use variables defined by the time it runs."""
    texts = [request.url, *(v for _, v in request.headers), *(request.basic_auth or ())]
    if request.body is not None:
        texts.append(request.body.decode())
    used = set().union(*(template_variables(t) for t in texts))
    # A check runs after the step's own extraction, so it may also use what that extracted.
    checked = set().union(*(template_variables(c.value) for c in request.checks
                            if isinstance(c.value, str)))  # fmt: skip
    missing = sorted((used - known) | (checked - known - {e.variable for e in request.extract}))
    if missing:
        raise SourceError(
            located.file, located.line_of(where), _key(where),
            f"{{{{ {missing[0]} }}}} is used before any step extracts it (a step can use "
            "what `variables`, `data` and the earlier steps of its flow define)",
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
    auth = spec.defaults.auth if step.auth is None else None if step.auth == "none" else step.auth
    basic_auth = _auth(auth, headers)
    try:
        return RequestSpec(
            name=name,
            method=method,
            url=url,
            headers=tuple(headers.items()),
            body=body,
            timeout=step.timeout,
            body_kind=body_kind,
            basic_auth=basic_auth,
            extract=extractions_of(step.extract, located, where),
            checks=checks_of(step.checks, name, located, where),
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


def _steps(
    steps: list[FileStep],
    spec: ScenarioFile,
    where: tuple[str | int, ...],
    located: Located,
    known: set[str],
    first: int = 0,
) -> tuple[Step, ...]:
    known = set(known)
    out = []
    for s, step in enumerate(steps, start=first):
        request = _request(step, spec, (*where, s), located)
        _used_before_defined(request, known, located, (*where, s))
        known.update(e.variable for e in request.extract)
        out.append(Step(request=request, think_time=_think(step, spec)))
    return tuple(out)


def _flows(spec: ScenarioFile, located: Located, known: set[str]) -> tuple[Flow, ...]:
    # What on_start extracts, every flow may use: it ran (and succeeded) first.
    known = known | {name for step in spec.on_start or () for name in step.extract}
    if spec.requests is not None:
        # A weighted set of requests: each iteration picks one, as a one-step flow (so what
        # one request extracts cannot feed another: use a flow for a chain).
        return tuple(
            Flow(name=f"request {i + 1}", weight=step.weight,
                 steps=_steps([step], spec, ("requests",), located, known, first=i))
            for i, step in enumerate(spec.requests)
        )  # fmt: skip
    assert spec.flows is not None
    return tuple(
        Flow(name=flow.name, weight=flow.weight, pacing=flow.pacing,
             steps=_steps(flow.steps, spec, ("flows", f, "steps"), located, known))
        for f, flow in enumerate(spec.flows)
    )  # fmt: skip


def _data(spec: ScenarioFile, located: Located, base: Path) -> tuple[DataSource, ...]:
    sources = []
    for name, data in spec.data.items():
        where: tuple[str | int, ...] = ("data", name)
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise SourceError(located.file, located.line_of(where), _key(where),
                              f"{name!r} cannot name data (letters, digits, _)")  # fmt: skip
        try:
            rows = read_rows(base / data.file)
        except DataFileError as e:
            where = (*where, "file")
            raise SourceError(located.file, located.line_of(where), _key(where), str(e)) from None
        clash = sorted(set(spec.variables) & {f"{name}.{c}" for c in rows[0]})
        if clash:
            raise SourceError(located.file, located.line_of(where), _key(where),
                              f"{clash[0]!r} is both a variable and a data column")  # fmt: skip
        sources.append(DataSource(name=name, file=str(base / data.file), rows=tuple(rows),
                                  order=data.order, on_exhausted=data.on_exhausted))  # fmt: skip
    return tuple(sources)


def load_scenario_file(path: Path, overrides: RunFlags | None = None) -> Scenario:
    """Read, validate and convert a scenario file; every problem names file, line and key."""
    located = read_yaml(path)
    if not isinstance(located.data, dict):
        raise SourceError(located.file, 1, "", "a scenario file is a mapping of keys")
    try:
        spec = ScenarioFile.model_validate(located.data)
    except ValidationError as e:
        raise _explain(dict(e.errors()[0]), located) from None  # the first problem, precisely
    if overrides is not None and overrides.base_url:
        spec = spec.model_copy(update={"base_url": overrides.base_url})
    data = _data(spec, located, path.parent)
    known = set(spec.variables) | {column for source in data for column in source.columns}
    extracted = {name for step in _all_steps(spec) for name in step.extract}
    for section in ("on_start", "requests", "flows", "defaults"):
        _check_templates(located.data.get(section), (section,), located, known | extracted)
    for i, expression in enumerate(spec.thresholds):
        try:
            parse_threshold(expression)
        except ThresholdError as err:
            raise SourceError(
                located.file, located.line_of(("thresholds", i)), f"thresholds[{i}]", str(err)
            ) from None
    flows = _flows(spec, located, known)
    on_start = (
        Flow(name="on_start", steps=_steps(spec.on_start, spec, ("on_start",), located, known))
        if spec.on_start is not None
        else None
    )
    settings = FileSettings(
        path=path,
        name=spec.name,
        load=spec.load,
        thresholds=tuple(spec.thresholds),
        timeout=spec.defaults.timeout,
        connect_timeout=spec.defaults.connect_timeout,
        max_body=spec.defaults.max_body,
        insecure=spec.defaults.insecure,
        cookies=spec.defaults.cookies,
        load_line=located.line_of(("load",)),
        secret_params=tuple(spec.secret_params),
    )

    def check_executor(load: LoadSpec) -> None:
        # (A flag that picks the model on the command line replaces the file's `executor` too.)
        chosen_by_flags = overrides is not None and any(
            getattr(overrides, n) is not None for n in MODEL_FLAGS
        )
        if spec.load.executor and load.executor != spec.load.executor and not chosen_by_flags:
            raise SourceError(
                located.file, located.line_of(("load", "executor")), "load.executor",
                f"says {spec.load.executor!r} but its keys describe {load.executor!r}; "
                "constant-vus: users+duration, ramping-vus: stages, constant-arrival-rate: "
                "rate+duration, ramping-arrival-rate: stages of rates, per-vu-iterations: "
                "users+iterations, capacity: rate+step",
            )  # fmt: skip

    return scenario_of_file(
        settings, overrides, check_load=check_executor,
        variables=spec.variables, flows=flows, data=data, on_start=on_start,
    )  # fmt: skip


def _all_steps(spec: ScenarioFile) -> list[FileStep]:
    steps = list(spec.on_start or ())
    if spec.requests is not None:
        return steps + list(spec.requests)
    return steps + [step for flow in spec.flows or () for step in flow.steps]
