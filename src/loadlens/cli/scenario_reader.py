"""The Python scenario reader the commands hand to loadlens.scenario."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from loadlens.scenario.from_flags import RunFlags
    from loadlens.scenario.model import Scenario

__all__ = ["read_python_scenario"]


def read_python_scenario(path: Path, flags: RunFlags | None) -> Scenario:
    """A Python scenario file, read by loadlens.scripting (a layer above scenario)."""
    # Imported here: a YAML or URL run never loads the scripting machinery.
    from loadlens.scripting.script_loader import load_script

    return load_script(path, flags)
