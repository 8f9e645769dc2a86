"""JSONPath expressions, compiled once: plain key/index chains run as direct lookups.

Parsing and the full language (wildcards, slices, filters) are jsonpath-ng's. Its `find`
cost 12-14 us here even for a plain path, a request's whole budget in the engine, so the
common shape, a chain of names and indexes, is turned into a tuple of keys walked by hand
(0.7 us for `$.items[0].id`); anything else goes through jsonpath-ng.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# jsonpath-ng (and its parser tables) is imported when a first expression is compiled: a
# run whose steps read no JSON does not pay its ~20 ms at start-up.

__all__ = ["MISSING", "JsonPathError", "compile_json_path"]

MISSING: Any = object()  # what a path that matches nothing gives


class JsonPathError(ValueError):
    """An expression that is not JSONPath."""


def _chain(expr: Any) -> list[str | int] | None:
    """The keys of `$.a.b[0]`, or None when the expression is more than a plain chain."""
    from jsonpath_ng import jsonpath

    if isinstance(expr, jsonpath.Root):
        return []
    if isinstance(expr, jsonpath.Child):
        left = _chain(expr.left)
        right = _chain_step(expr.right)
        return None if left is None or right is None else [*left, right]
    return None


def _chain_step(expr: Any) -> str | int | None:
    from jsonpath_ng import jsonpath

    if isinstance(expr, jsonpath.Fields) and len(expr.fields) == 1 and expr.fields[0] != "*":
        return str(expr.fields[0])
    if isinstance(expr, jsonpath.Index) and len(expr.indices) == 1:
        return int(expr.indices[0])
    return None


def _walk(keys: tuple[str | int, ...]) -> Callable[[Any], Any]:
    def lookup(document: Any) -> Any:
        for key in keys:
            # A name only looks into an object and an index only into an array, as in
            # JSONPath (Python would also index into strings).
            if isinstance(document, dict) if isinstance(key, str) else isinstance(document, list):
                try:
                    document = document[key]
                    continue
                except (KeyError, IndexError):
                    pass
            return MISSING
        return document

    return lookup


def compile_json_path(expression: str) -> Callable[[Any], Any]:
    """A function from a parsed JSON document to the first match, or MISSING."""
    text = expression.strip()
    if not text.startswith("$"):
        raise JsonPathError(f"{expression!r}: a JSONPath starts with $, e.g. $.items[0].id")
    from jsonpath_ng.ext.parser import parse as parse_extended

    try:
        parsed = parse_extended(text)
    except Exception as e:  # its lexer and parser raise several kinds, some bare Exception
        raise JsonPathError(f"{expression!r} is not valid JSONPath ({e})") from None
    keys = _chain(parsed)
    if keys is not None:
        return _walk(tuple(keys))

    def find(document: Any) -> Any:
        matches = parsed.find(document)
        return matches[0].value if matches else MISSING

    return find
