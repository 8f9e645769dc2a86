"""Templates compile once, render per request, and fail at load time when they cannot work."""

from __future__ import annotations

import pytest

from loadlens.scenario.templating import TemplateError, compile_template


def test_static_text_is_static() -> None:
    template = compile_template("/api/v1/users", known=())
    assert template.is_static
    assert template.render({}) == "/api/v1/users"


@pytest.mark.parametrize(
    ("escape", "value", "rendered"),
    [
        ("raw", 'a "b"', 'x=a "b"'),
        ("url", "a b/c", "x=a%20b%2Fc"),
        ("form", "a b&c", "x=a+b%26c"),
        ("json", 'say "hi"\n', 'x=say \\"hi\\"\\n'),
        ("header", "a\r\nb", "x=a  b"),
    ],
)
def test_values_are_escaped_for_where_they_go(escape: str, value: str, rendered: str) -> None:
    template = compile_template("x={{ v }}", known={"v"}, escape=escape)
    assert template.render({"v": value}) == rendered


def test_builtins() -> None:
    variables: dict[str, object] = {}
    t = compile_template(
        "{{ counter() }} {{ random_int(5, 5) }} {{ random_choice('only') }} {{ uuid() }}", known=()
    )
    first, second = t.render(variables).split(), t.render(variables).split()
    assert (first[0], second[0]) == ("1", "2")  # counter() counts per variables dict
    assert first[1] == "5" and first[2] == "only"
    assert len(first[3]) == 36 and first[3] != second[3]
    assert int(compile_template("{{ now() }}", known=()).render({})) > 1_700_000_000_000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ token }}", "undefined variable"),
        ("{{ shout('x') }}", "unknown function"),
        ("{{ random_int(1) }}", "takes [2] arguments"),
        ("{{ random_choice(x) }}", "arguments must be literals"),
        ("{{ random_choice() }}", "at least one option"),
        ("{{ 1 + }}", "expected a variable name"),
        ("half {{ open", "without its closing"),
    ],
)
def test_bad_templates_are_explained(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("[", r"\[").replace("]", r"\]")):
        compile_template(text, known={"user"})
