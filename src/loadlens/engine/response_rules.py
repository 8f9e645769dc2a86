"""A step's checks and extractions, compiled once per worker and applied to each response."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

from loadlens.engine.response_capture import ResponseCapture
from loadlens.scenario.json_path import MISSING, compile_json_path
from loadlens.scenario.model import CheckSpec, ExtractSpec
from loadlens.scenario.templating import compile_template, has_template

__all__ = ["Check", "Extraction", "StepRules", "as_variable"]

# (response or None, status, latency_ns, the user's variables) -> held?
_Test = Callable[[ResponseCapture | None, int, int, Mapping[str, Any]], bool]
_Text = Callable[[Mapping[str, Any]], str | None]
_Read = Callable[[ResponseCapture], Any]


def as_variable(value: Any) -> str:
    """How a JSON value is kept in a variable: text, with JSON spelling for the rest."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _json_at(path: str) -> _Read:
    find = compile_json_path(path)

    def read(response: ResponseCapture) -> Any:
        try:
            document = response.json()
        except ValueError:
            return MISSING
        return find(document)

    return read


def _set_cookie(response: ResponseCapture, name: str) -> str | None:
    for raw in response.all_headers(b"set-cookie"):
        pair = raw.decode("latin-1").split(";", 1)[0]
        key, sep, value = pair.partition("=")
        if sep and key.strip() == name:
            return value.strip()
    return None


class Extraction:
    """One `variable <- response` rule."""

    __slots__ = ("_read", "variable")

    def __init__(self, spec: ExtractSpec) -> None:
        self.variable = spec.variable
        self._read = self._reader(spec)

    @staticmethod
    def _reader(spec: ExtractSpec) -> Callable[[ResponseCapture], Any]:
        if spec.source == "json":
            return _json_at(spec.expression)
        if spec.source == "regex":
            pattern = re.compile(spec.expression)
            group = spec.group

            def by_regex(response: ResponseCapture) -> Any:
                match = pattern.search(response.text)
                return MISSING if match is None or match.group(group) is None else match[group]

            return by_regex
        if spec.source == "header":
            name = spec.expression.lower().encode("latin-1")

            def by_header(response: ResponseCapture) -> Any:
                value = response.header(name)
                return MISSING if value is None else value.decode("latin-1")

            return by_header
        cookie = spec.expression

        def by_cookie(response: ResponseCapture) -> Any:
            value = _set_cookie(response, cookie)
            return MISSING if value is None else value

        return by_cookie

    def apply(self, response: ResponseCapture, variables: MutableMapping[str, Any]) -> bool:
        """Set the variable from the response; False if the response did not have it."""
        value = self._read(response)
        if value is MISSING:
            # No stale value from an earlier response either: it would pass for this one's.
            variables.pop(self.variable, None)
            return False
        variables[self.variable] = as_variable(value)
        return True


def _expected(value: Any, known: Iterable[str]) -> _Text:
    """A check's expected text: fixed, or rendered from the user's variables per response
    (None when a variable it needs is not set: the step's own extraction failed)."""
    text = str(value)
    if isinstance(value, str) and has_template(value):
        template = compile_template(value, known)

        def rendered(variables: Mapping[str, Any]) -> str | None:
            try:
                return template.render(variables)  # type: ignore[arg-type]  # reads only
            except KeyError:
                return None

        return rendered
    return lambda _v: text


def _compile_check(spec: CheckSpec, known: Iterable[str]) -> _Test:
    kind, value = spec.kind, spec.value
    if kind == "status":
        allowed = frozenset(s for low, high in value for s in range(int(low), int(high) + 1))
        return lambda _r, status, _l, _v: status in allowed
    if kind == "max-latency":
        limit_ns = float(value) * 1e6
        return lambda _r, _s, latency_ns, _v: latency_ns <= limit_ns
    if kind.startswith("json-"):
        read = _json_at(spec.target)
        if kind == "json-exists":
            wanted = bool(value)
            return lambda r, _s, _l, _v: r is not None and (read(r) is not MISSING) == wanted
        if kind == "json-equals":
            if isinstance(value, str) and has_template(value):
                expected = _expected(value, known)

                def equals_rendered(r: ResponseCapture | None, _s: int, _l: int,
                                    v: Mapping[str, Any]) -> bool:  # fmt: skip
                    found = MISSING if r is None else read(r)
                    wanted = expected(v)
                    return (
                        found is not MISSING
                        and wanted is not None
                        and (as_variable(found) == wanted)
                    )

                return equals_rendered

            def equals(r: ResponseCapture | None, _s: int, _l: int, _v: Mapping[str, Any]) -> bool:
                found = MISSING if r is None else read(r)
                # true == 1 in Python, not in JSON
                return found == value and isinstance(found, bool) == isinstance(value, bool)

            return equals
        json_pattern = re.compile(str(value))

        def json_matches(
            r: ResponseCapture | None, _s: int, _l: int, _v: Mapping[str, Any]
        ) -> bool:
            found = MISSING if r is None else read(r)
            return found is not MISSING and json_pattern.search(as_variable(found)) is not None

        return json_matches
    if kind == "body-contains":
        needle = _expected(value, known)
        return lambda r, _s, _l, v: (
            r is not None and (wanted := needle(v)) is not None and wanted.encode() in r.body
        )
    if kind == "body-matches":
        body_pattern = re.compile(str(value))
        return lambda r, _s, _l, _v: r is not None and body_pattern.search(r.text) is not None
    header = spec.target.lower().encode("latin-1")

    def header_value(r: ResponseCapture | None) -> str | None:
        raw = None if r is None else r.header(header)
        return None if raw is None else raw.decode("latin-1")

    if kind == "header-matches":
        header_pattern = re.compile(str(value))
        return lambda r, _s, _l, _v: (
            (found := header_value(r)) is not None and header_pattern.search(found) is not None
        )
    text = _expected(value, known)
    if kind == "header-equals":
        return lambda r, _s, _l, v: (wanted := text(v)) is not None and header_value(r) == wanted
    return lambda r, _s, _l, v: (
        (found := header_value(r)) is not None and (wanted := text(v)) is not None
        and wanted in found
    )  # fmt: skip


class Check:
    """One compiled check, and where it counts: passes at `slot`, fails at `slot + 1`."""

    __slots__ = ("slot", "test")

    def __init__(self, spec: CheckSpec, index: int, known: Iterable[str]) -> None:
        self.slot = 2 * index
        self.test = _compile_check(spec, known)


class StepRules:
    """Everything a step does with its response besides timing it."""

    __slots__ = ("checks", "extractions", "judges_status", "keep_body", "reads_response")

    def __init__(
        self,
        extract: Iterable[ExtractSpec],
        checks: Iterable[CheckSpec],
        check_index: dict[str, int],
        known: Iterable[str] = (),
    ) -> None:
        extract, checks, known = tuple(extract), tuple(checks), set(known)
        self.extractions = tuple(Extraction(spec) for spec in extract)
        self.checks = tuple(Check(spec, check_index[spec.name], known) for spec in checks)
        # A status check states which statuses are right, so 4xx/5xx alone is no failure.
        self.judges_status = any(spec.kind == "status" for spec in checks)
        self.reads_response = bool(extract) or any(
            spec.kind not in ("status", "max-latency") for spec in checks
        )
        self.keep_body = any(spec.source in ("json", "regex") for spec in extract) or any(
            spec.kind.startswith(("json-", "body-")) for spec in checks
        )
