"""The one way in to a scenario: `loadlens run TARGET` names a URL or a scenario file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from loadlens.scenario.file_loader import load_scenario_file
from loadlens.scenario.from_flags import RunFlags, scenario_from_flags
from loadlens.scenario.model import Scenario
from loadlens.scenario.units import InputError
from loadlens.scenario.yaml_source import SourceError

__all__ = ["ScenarioReader", "is_scenario_file", "load_scenario", "read_scenario"]

ScenarioReader = Callable[[Path, RunFlags | None], Scenario]
"""Reads one kind of scenario file, the command line's flags (if any) over its settings."""


def is_scenario_file(target: str) -> bool:
    """Whether `loadlens run TARGET` names a scenario file rather than a URL."""
    return "://" not in target and (
        target.endswith((".yaml", ".yml", ".py")) or Path(target).is_file()
    )


def load_scenario(flags: RunFlags, *, python_loader: ScenarioReader | None = None) -> Scenario:
    """The scenario `flags.target` names: a URL's, from the flags, or a file's under them.

    Raises InputError for a flag that is wrong (or does not apply), SourceError for a file.
    """
    if not is_scenario_file(flags.target):
        return scenario_from_flags(flags)
    for option, value in (("-X", flags.method), ("-H", flags.headers), ("--json", flags.json_body),
                          ("--body", flags.body)):  # fmt: skip
        if value:
            raise InputError(f"{option} applies to a URL; a scenario file sets its own requests")
    if flags.base_url is not None and urlsplit(flags.base_url).scheme not in ("http", "https"):
        raise InputError(f"--base-url {flags.base_url!r}: expected an http:// or https:// URL")
    return read_scenario(Path(flags.target), flags, python_loader=python_loader)


def read_scenario(
    path: Path, overrides: RunFlags | None = None, *, python_loader: ScenarioReader | None = None
) -> Scenario:
    """A scenario file: YAML, or Python (`.py`) read by `python_loader`; raises SourceError."""
    if path.suffix == ".py":
        # The caller passes the Python reader in: scripting is a layer above scenario, which
        # never imports it (and a YAML or URL run never loads the scripting machinery).
        if python_loader is None:
            raise SourceError(str(path), None, "", "no reader for Python scenarios was given")
        return python_loader(path, overrides)
    return load_scenario_file(path, overrides)
