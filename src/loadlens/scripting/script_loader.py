"""Loads a Python scenario file: its flows, and its settings as module-level names.

```python
base_url = "http://127.0.0.1:8089"
load = {"users": 50, "duration": "30s"}      # the keys of a YAML file's `load`
thresholds = ["p95<100ms", "checks>99%"]
defaults = {"headers": {"Accept": "application/json"}, "timeout": "5s"}

@flow(weight=3)
async def browse(s: Session) -> None: ...
```
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from loadlens.metrics.thresholds import ThresholdError, parse_threshold
from loadlens.redaction import check_param_name
from loadlens.scenario.file_model import Bytes, FileLoad, Seconds
from loadlens.scenario.file_settings import FileSettings, scenario_of_file
from loadlens.scenario.from_flags import RunFlags
from loadlens.scenario.model import Scenario
from loadlens.scenario.yaml_source import SourceError
from loadlens.scripting.api import FlowFunction, ScriptFlow, flows_in

__all__ = ["ScriptSettings", "import_script", "load_script"]

_SETTINGS = ("name", "base_url", "load", "thresholds", "defaults", "secret_params")


class ScriptDefaults(BaseModel):
    """`defaults = {...}` in a Python scenario."""

    model_config = ConfigDict(extra="forbid")

    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Seconds | None = None
    connect_timeout: Seconds | None = None
    max_body: Bytes | None = None
    cookies: bool = True
    insecure: bool = False


class ScriptSettings(BaseModel):
    """The module-level settings of a Python scenario."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    base_url: str | None = None
    load: FileLoad = Field(default_factory=FileLoad)
    thresholds: list[str] = Field(default_factory=list)
    defaults: ScriptDefaults = Field(default_factory=ScriptDefaults)
    secret_params: list[Annotated[str, AfterValidator(check_param_name)]] = Field(
        default_factory=list
    )


def _module_name(path: Path) -> str:
    return f"loadlens_scenario_{abs(hash(str(path.resolve())))}"


def import_script(path: Path) -> tuple[ModuleType, list[ScriptFlow], FlowFunction | None]:
    """Import the file once per process (a forked worker reuses the parent's import)."""
    name = _module_name(path)
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise SourceError(str(path), None, "", "cannot be imported as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except SyntaxError as e:
            del sys.modules[name]
            raise SourceError(str(path), e.lineno, "", f"SyntaxError: {e.msg}") from None
        except Exception as e:
            del sys.modules[name]
            frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == str(path)]
            line = frames[-1].lineno if frames else None
            raise SourceError(str(path), line, "", f"{type(e).__name__}: {e}") from None
    try:
        flows, start = flows_in(vars(module))
    except ValueError as e:
        raise SourceError(str(path), None, "", str(e)) from None
    if not flows:
        raise SourceError(str(path), None, "",
                          "no flows: mark an `async def f(session)` with @flow")  # fmt: skip
    return module, flows, start


def _assignment_lines(path: Path) -> dict[str, int]:
    """The line of each top-level `name = ...`, for error messages."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return {}
    lines = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    lines[target.id] = node.lineno
    return lines


def load_script(path: Path, overrides: RunFlags | None = None) -> Scenario:
    """Read a Python scenario's settings and flows into a Scenario (exit 2 on a problem)."""
    file = str(path)
    if not path.is_file():
        raise SourceError(file, None, "", "no such file")
    module, _, _ = import_script(path)
    lines = _assignment_lines(path)
    raw: dict[str, Any] = {k: getattr(module, k) for k in _SETTINGS if hasattr(module, k)}
    try:
        settings = ScriptSettings.model_validate(raw)
    except ValidationError as e:
        error = e.errors()[0]
        key = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        raise SourceError(file, lines.get(str(error["loc"][0])), key, message) from None
    for i, expression in enumerate(settings.thresholds):
        try:
            parse_threshold(expression)
        except ThresholdError as err:
            raise SourceError(file, lines.get("thresholds"), f"thresholds[{i}]", str(err)) from None
    defaults = settings.defaults
    return scenario_of_file(
        FileSettings(path=path, name=settings.name, load=settings.load,
                     thresholds=tuple(settings.thresholds), timeout=defaults.timeout,
                     connect_timeout=defaults.connect_timeout, max_body=defaults.max_body,
                     insecure=defaults.insecure, cookies=defaults.cookies,
                     load_line=lines.get("load"), secret_params=tuple(settings.secret_params)),
        overrides,
        script=str(path.resolve()),
        base_url=(overrides.base_url if overrides else None) or settings.base_url,
        headers=tuple(defaults.headers.items()),
    )  # fmt: skip
