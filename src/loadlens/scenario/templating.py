"""`{{ }}` templates in scenario values: compiled once at load, rendered per request.

A template is a list of literal text and holes. A hole is a user variable (`{{ token }}`)
or a built-in call: `random_int(1, 100)`, `random_choice('a', 'b')`, `uuid()`, `now()`
(epoch milliseconds) and `counter()` (1, 2, 3, ... per user). Text with no hole compiles
to itself, so a step without templates costs nothing extra.
"""

from __future__ import annotations

import ast
import json
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "BUILTINS",
    "ESCAPES",
    "Template",
    "TemplateError",
    "compile_template",
    "has_template",
    "map_literal_text",
    "template_variables",
]

_HOLE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_-]*)?$")  # data: users.email
_CALL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$", re.DOTALL)
_COUNTER = "__counter__"
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]*")  # what quote() leaves alone: skip the call


class TemplateError(ValueError):
    """A template that cannot work: bad syntax, unknown function, undefined variable."""


def _counter(variables: MutableMapping[str, Any]) -> int:
    value = int(variables.get(_COUNTER, 0)) + 1
    variables[_COUNTER] = value
    return value


# name -> (function of (variables, *args), allowed argument counts)
BUILTINS: dict[str, tuple[Callable[..., Any], set[int] | None]] = {
    "random_int": (lambda _v, low, high: random.randint(int(low), int(high)), {2}),
    "random_choice": (lambda _v, *options: random.choice(options), None),
    "uuid": (lambda _v: str(uuid.uuid4()), {0}),
    "now": (lambda _v: int(time.time() * 1000), {0}),
    "counter": (_counter, {0}),
}

# How a substituted value is written where the hole stands.
ESCAPES: dict[str, Callable[[str], str]] = {
    "raw": lambda s: s,
    "url": lambda s: s if _URL_SAFE.fullmatch(s) else quote(s, safe=""),
    "form": quote_plus,
    "json": lambda s: json.dumps(s)[1:-1],
    "header": lambda s: s.replace("\r", " ").replace("\n", " "),
}


@dataclass(frozen=True, slots=True)
class _Hole:
    variable: str  # "" for a built-in call
    function: Callable[..., Any] | None
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Template:
    """Compiled text: literal parts and holes, and how substituted values are escaped."""

    parts: tuple[str | _Hole, ...]
    escape: Callable[[str], str]

    @property
    def is_static(self) -> bool:
        """No holes: the text is the only part (or there is none)."""
        return all(isinstance(p, str) for p in self.parts)

    def pieces(self) -> list[str | Callable[[MutableMapping[str, Any]], str]]:
        """Literal text, and for each hole a function of the variables giving its text."""
        out: list[str | Callable[[MutableMapping[str, Any]], str]] = []
        escape = self.escape
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part.function is not None:
                out.append(partial(_call_hole, escape, part.function, part.args))
            else:
                out.append(partial(_variable_hole, escape, part.variable))
        return out

    def render(self, variables: MutableMapping[str, Any]) -> str:
        """The text with every hole filled from `variables` (and the built-ins)."""
        out = []
        escape = self.escape
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part.function is not None:
                out.append(escape(str(part.function(variables, *part.args))))
            else:
                out.append(escape(str(variables[part.variable])))  # compiled: it exists
        return "".join(out)


def _call_hole(
    escape: Callable[[str], str],
    function: Callable[..., Any],
    args: tuple[Any, ...],
    variables: MutableMapping[str, Any],
) -> str:
    return escape(str(function(variables, *args)))


def _variable_hole(
    escape: Callable[[str], str], name: str, variables: MutableMapping[str, Any]
) -> str:
    return escape(str(variables[name]))


def has_template(text: str) -> bool:
    """Whether `text` holds a `{{ }}` hole."""
    return "{{" in text


def _hole(expression: str, known: Iterable[str]) -> _Hole:
    expression = expression.strip()
    if _NAME.match(expression):
        if expression not in known:
            names = ", ".join(sorted(known)) or "none are defined"
            raise TemplateError(f"{{{{ {expression} }}}}: undefined variable (variables: {names})")
        return _Hole(expression, None, ())
    call = _CALL.match(expression)
    if not call:
        raise TemplateError(f"{{{{ {expression} }}}}: expected a variable name or a call such "
                            "as random_int(1, 100)")  # fmt: skip
    name, raw_args = call.groups()
    if name not in BUILTINS:
        raise TemplateError(f"{{{{ {expression} }}}}: unknown function {name!r}; built-ins are "
                            f"{', '.join(sorted(BUILTINS))}")  # fmt: skip
    try:
        args = ast.literal_eval(f"({raw_args},)") if raw_args.strip() else ()
    except (ValueError, SyntaxError):
        raise TemplateError(f"{{{{ {expression} }}}}: arguments must be literals") from None
    function, counts = BUILTINS[name]
    if counts is not None and len(args) not in counts:
        raise TemplateError(f"{{{{ {expression} }}}}: {name}() takes {sorted(counts)} arguments")
    if name == "random_choice" and not args:
        raise TemplateError(f"{{{{ {expression} }}}}: random_choice() needs at least one option")
    return _Hole("", function, tuple(args))


def compile_template(text: str, known: Iterable[str], escape: str = "raw") -> Template:
    """Compile `text`; raises TemplateError on a hole that cannot work."""
    known = set(known)
    parts: list[str | _Hole] = []
    position = 0
    for match in _HOLE.finditer(text):
        if match.start() > position:
            parts.append(text[position : match.start()])
        parts.append(_hole(match.group(1), known))
        position = match.end()
    if position < len(text):
        parts.append(text[position:])
    if "{{" in "".join(p for p in parts if isinstance(p, str)):
        raise TemplateError(f"{text!r}: an opening {{{{ without its closing }}}}")
    return Template(tuple(parts), ESCAPES[escape])


def template_variables(text: str) -> set[str]:
    """The variable names `text`'s holes read (not checked against any definition)."""
    names = set()
    for match in _HOLE.finditer(text):
        expression = match.group(1).strip()
        if _NAME.match(expression):
            names.add(expression)
    return names


def map_literal_text(text: str, function: Callable[[str], str]) -> str:
    """`text` with `function` applied to the literal parts only; holes stay as written.

    (A templated form or query value: its literal text is encoded now, its holes when
    rendered.)
    """
    out = []
    position = 0
    for match in _HOLE.finditer(text):
        out.append(function(text[position : match.start()]))
        out.append(match.group(0))
        position = match.end()
    out.append(function(text[position:]))
    return "".join(out)
