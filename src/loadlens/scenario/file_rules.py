"""A file step's `extract` and `checks`, turned into specs and verified where they stand.

Every JSONPath and regular expression is compiled here, at load, so a bad one is reported
with its file, line and key before any request is sent.
"""

from __future__ import annotations

import json
import re
from typing import Any

from loadlens.scenario.file_model import FileChecks, FileExtract
from loadlens.scenario.json_path import JsonPathError, compile_json_path
from loadlens.scenario.model import CheckSpec, ExtractSpec
from loadlens.scenario.yaml_source import Located, SourceError

__all__ = ["checks_of", "extractions_of", "status_ranges"]

Where = tuple[str | int, ...]
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STATUS_RANGE = re.compile(r"^\s*(\d{3})\s*-\s*(\d{3})\s*$")
_STATUS_CLASS = re.compile(r"^\s*([1-5])xx\s*$", re.IGNORECASE)


def _error(located: Located, where: Where, message: str) -> SourceError:
    key = ""
    for part in where:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return SourceError(located.file, located.line_of(where), key, message)


def _regex(pattern: str, located: Located, where: Where) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise _error(
            located, where, f"{pattern!r} is not a valid regular expression ({e})"
        ) from None


def _json_path(path: str, located: Located, where: Where) -> None:
    try:
        compile_json_path(path)
    except JsonPathError as e:
        raise _error(located, where, str(e)) from None


def extractions_of(
    extract: dict[str, FileExtract], located: Located, where: Where
) -> tuple[ExtractSpec, ...]:
    """`extract:` as specs; a bad variable name, JSONPath or regex is a SourceError."""
    specs = []
    for variable, rule in extract.items():
        at = (*where, "extract", variable)
        if not _VARIABLE.match(variable):
            raise _error(
                located, at, f"{variable!r} cannot be a variable name (letters, digits, _)"
            )
        if rule.json_path is not None:
            _json_path(rule.json_path, located, (*at, "json"))
            specs.append(ExtractSpec(variable=variable, source="json", expression=rule.json_path))
        elif rule.regex is not None:
            pattern = _regex(rule.regex, located, (*at, "regex"))
            group = 1 if rule.group is None and pattern.groups else (rule.group or 0)
            if group > pattern.groups:
                message = f"the regex has {pattern.groups} groups; there is no group {group}"
                raise _error(located, (*at, "group"), message)
            specs.append(
                ExtractSpec(variable=variable, source="regex", expression=rule.regex, group=group)
            )
        elif rule.header is not None:
            specs.append(ExtractSpec(variable=variable, source="header", expression=rule.header))
        else:
            assert rule.cookie is not None
            specs.append(ExtractSpec(variable=variable, source="cookie", expression=rule.cookie))
    return tuple(specs)


def status_ranges(value: int | str | list[int | str], located: Located, where: Where) -> list[
    tuple[int, int]
]:  # fmt: skip
    """`200`, `[200, 201]`, `2xx`, `200-299` (or a list mixing them) as inclusive ranges."""
    ranges = []
    for item in value if isinstance(value, list) else [value]:
        text = str(item)
        if isinstance(item, int) or text.strip().isdigit():
            ranges.append((int(text), int(text)))
        elif m := _STATUS_CLASS.match(text):
            ranges.append((int(m[1]) * 100, int(m[1]) * 100 + 99))
        elif m := _STATUS_RANGE.match(text):
            ranges.append((int(m[1]), int(m[2])))
        else:
            raise _error(located, where, f"{item!r}: expected a status (200), a class (2xx), a "
                                         "range (200-299) or a list of them")  # fmt: skip
    for low, high in ranges:
        if not 100 <= low <= high <= 599:
            raise _error(located, where, f"{low}-{high} is not a range of HTTP statuses")
    return ranges


def _json_text(value: Any) -> str:
    """A value as the check's name shows it: text in quotes, the rest as JSON."""
    return f"'{value}'" if isinstance(value, str) else json.dumps(value)


def _status_name(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def checks_of(
    checks: FileChecks | None, step_name: str, located: Located, where: Where
) -> tuple[CheckSpec, ...]:
    """`checks:` as specs, each named `step: what it checks` for the results."""
    if checks is None:
        return ()
    at = (*where, "checks")
    specs: list[CheckSpec] = []

    def add(kind: Any, label: str, target: str = "", value: Any = None) -> None:
        specs.append(CheckSpec(name=f"{step_name}: {label}", kind=kind, target=target,
                               value=value))  # fmt: skip

    if checks.status is not None:
        ranges = status_ranges(checks.status, located, (*at, "status"))
        add("status", f"status {_status_name(checks.status)}", value=ranges)
    if checks.max_latency is not None:
        add("max-latency", f"latency <= {checks.max_latency * 1000:g}ms",
            value=checks.max_latency * 1000)  # fmt: skip
    if checks.body_contains is not None:
        add("body-contains", f"body contains '{checks.body_contains}'",
            value=checks.body_contains)  # fmt: skip
    if checks.body_matches is not None:
        _regex(checks.body_matches, located, (*at, "body_matches"))
        add("body-matches", f"body matches '{checks.body_matches}'", value=checks.body_matches)
    for name, header in checks.headers.items():
        if header.equals is not None:
            add("header-equals", f"{name} == '{header.equals}'", name, header.equals)
        elif header.contains is not None:
            add("header-contains", f"{name} contains '{header.contains}'", name, header.contains)
        else:
            assert header.matches is not None
            _regex(header.matches, located, (*at, "headers", name, "matches"))
            add("header-matches", f"{name} matches '{header.matches}'", name, header.matches)
    for i, check in enumerate(checks.json_checks):
        _json_path(check.path, located, (*at, "json", i, "path"))
        if check.matches is not None:
            _regex(check.matches, located, (*at, "json", i, "matches"))
            add("json-matches", f"{check.path} matches '{check.matches}'", check.path,
                check.matches)  # fmt: skip
        elif "equals" in check.model_fields_set:
            add(
                "json-equals",
                f"{check.path} == {_json_text(check.equals)}",
                check.path,
                check.equals,
            )
        elif check.exists is False:
            add("json-exists", f"{check.path} is absent", check.path, False)
        else:
            add("json-exists", f"{check.path} exists", check.path, True)
    return tuple(specs)
