"""Scenario files as an attacker or a typo writes them: a clear error or a scenario, never a
crash, a hang or a memory blow-up."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadlens.scenario.file_loader import load_scenario_file
from loadlens.scenario.model import Scenario
from loadlens.scenario.yaml_source import MAX_VALUES, SourceError

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_an_alias_bomb_is_refused_fast_with_the_reason(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(SourceError, match=f"expands to more than {MAX_VALUES:,} values"):
        load_scenario_file(_write(tmp_path, BILLION_LAUGHS))
    assert time.monotonic() - started < 5.0


def test_an_alias_that_contains_itself_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="nests deeper than"):
        load_scenario_file(_write(tmp_path, "base_url: &x {a: *x}\n"))


def test_aliases_a_scenario_really_uses_still_work(tmp_path: Path) -> None:
    text = """\
base_url: http://127.0.0.1:9
requests:
  - {name: a, path: /a, headers: &common {X-Team: web, Accept: application/json}}
  - {name: b, path: /b, headers: *common}
"""
    scenario = load_scenario_file(_write(tmp_path, text))
    assert [dict(r.headers)["X-Team"] for r in scenario.requests] == ["web", "web"]


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    with path.open("wb") as f:
        f.truncate(17 * 2**20)  # sparse: no 17 MiB written to the disk
    with pytest.raises(SourceError, match="larger than 16 MiB"):
        load_scenario_file(path)


_KEYS = st.sampled_from(
    ["base_url", "name", "load", "users", "duration", "rate", "requests", "flows", "steps",
     "path", "url", "method", "headers", "json", "body", "checks", "extract", "think",
     "status", "iterations", "data", "variables", "thresholds", "settings", "timeout"]
)  # fmt: skip
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from(["10s", "http://127.0.0.1:9", "/x", "{{ v }}", "$.a"]),
)  # fmt: skip
_DOCUMENTS = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=25,
)


@pytest.mark.slow
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=st.dictionaries(_KEYS, _DOCUMENTS, max_size=6))
def test_no_document_crashes_the_loader(tmp_path: Path, document: dict[str, object]) -> None:
    import yaml

    path = _write(tmp_path, yaml.safe_dump(document))
    try:
        scenario = load_scenario_file(path)
    except SourceError as e:
        assert str(e).startswith(str(path))  # located: the file, then line and key
    else:
        assert isinstance(scenario, Scenario)


@pytest.mark.slow
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=300))
def test_no_text_crashes_the_loader(tmp_path: Path, text: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_scenario_file(path)
    except SourceError as e:
        assert str(e).startswith(str(path))
