"""How much of a response body a run keeps: --max-body, a file's `defaults.max_body`, the
4 MiB default, and the sizes a user may type for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadlens.scenario.file_loader import load_scenario_file
from loadlens.scenario.from_flags import RunFlags, scenario_from_flags
from loadlens.scenario.model import DEFAULT_MAX_BODY
from loadlens.scenario.units import InputError, parse_size
from loadlens.scenario.yaml_source import SourceError
from loadlens.scripting.script_loader import load_script

URL = "http://127.0.0.1:9/items"


@pytest.mark.parametrize(
    ("text", "size"),
    [("4MiB", 4 * 1024 * 1024), ("64 KiB", 65536), ("1MB", 1_000_000), ("500kb", 500_000),
     ("1024", 1024), (2048, 2048)],
)  # fmt: skip
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "4 parsecs", "-1", "0", "0KiB", "1e3"])
def test_bad_sizes_say_what_was_expected(text: str) -> None:
    with pytest.raises(InputError, match=r"^--max-body: .*(4MiB|above 0)"):
        parse_size(text, what="--max-body")


def test_the_flag_sets_it_and_the_default_is_4_mib() -> None:
    assert DEFAULT_MAX_BODY == 4 * 1024 * 1024
    assert scenario_from_flags(RunFlags(target=URL)).max_body == DEFAULT_MAX_BODY
    assert scenario_from_flags(RunFlags(target=URL, max_body="64KiB")).max_body == 65536
    with pytest.raises(InputError, match="--max-body: cannot read 'big'"):
        scenario_from_flags(RunFlags(target=URL, max_body="big"))


def _yaml(tmp_path: Path, defaults: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(f"base_url: http://127.0.0.1:9\n{defaults}requests: [{{path: /}}]\n")
    return path


def test_a_scenario_file_sets_it_and_the_flag_wins(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "defaults: {max_body: 1MiB}\n")
    assert load_scenario_file(path).max_body == 1024 * 1024
    flags = RunFlags(target=str(path), max_body="2KiB")
    assert load_scenario_file(path, flags).max_body == 2048
    assert load_scenario_file(_yaml(tmp_path, "")).max_body == DEFAULT_MAX_BODY


@pytest.mark.parametrize("value", ["huge", "0", "true"])
def test_a_bad_max_body_in_a_file_names_its_line_and_key(tmp_path: Path, value: str) -> None:
    path = _yaml(tmp_path, f"defaults:\n  max_body: {value}\n")
    with pytest.raises(SourceError) as caught:
        load_scenario_file(path)
    assert "s.yaml:3: defaults.max_body: " in str(caught.value), str(caught.value)


def test_a_bad_flag_over_a_file_names_the_flag(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "")
    with pytest.raises(SourceError, match="--max-body: cannot read '4 lots'"):
        load_scenario_file(path, RunFlags(target=str(path), max_body="4 lots"))


def test_a_python_scenario_sets_it_in_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "s.py"
    path.write_text(
        "from loadlens.scripting import flow\n"
        "defaults = {'max_body': '16KiB'}\n"
        "@flow\nasync def browse(session):\n    await session.get('http://127.0.0.1:9/')\n"
    )
    assert load_script(path).max_body == 16 * 1024
    assert load_script(path, RunFlags(target=str(path), max_body="1KiB")).max_body == 1024
