"""Writes a RunResult to a JSON file: whole or not at all, owner-only, never through a link."""

from __future__ import annotations

from pathlib import Path

from loadlens.metrics.run_result import RunResult
from loadlens.private_files import write_private

__all__ = ["write_result"]


def write_result(result: RunResult, path: Path) -> None:
    """Write the result (0600, temp file + rename), creating parent folders; raises
    OSError (DestinationError for a link at `path`) when it cannot."""
    write_private(path, result.to_json() + "\n")
