"""Writes a RunResult to a JSON file without ever leaving half a file behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from loadlens.metrics.run_result import RunResult

__all__ = ["write_result"]


def write_result(result: RunResult, path: Path) -> None:
    """Write the result atomically (temp file + rename), creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".loadlens-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(result.to_json())
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
