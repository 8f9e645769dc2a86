"""Finds the run a command names: a result file, or an id (or id prefix) in the store."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from loadlens.metrics.run_result import SCHEMA, RunResult
from loadlens.storage.run_store import RunStore, StoreError, store_url

__all__ = ["RunSourceError", "load_run"]


class RunSourceError(ValueError):
    """The named run cannot be found or read; the message says which and why."""


def _from_file(path: Path) -> RunResult:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise RunSourceError(f"{path}: cannot read it ({e.strerror})") from None
    except UnicodeDecodeError:
        raise RunSourceError(f"{path}: not a loadlens result (not UTF-8 text)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise RunSourceError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema != SCHEMA:
        found = f"schema {schema!r}" if schema else "no `schema` key"
        raise RunSourceError(
            f"{path}: not a loadlens result ({found}; expected {SCHEMA!r}, as `--out` writes)"
        )
    try:
        return RunResult.model_validate(data)
    except ValidationError as e:
        error = e.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise RunSourceError(f"{path}: {where}: {error['msg']} (a damaged result file?)") from None


def load_run(ref: str, db: str | None = None) -> RunResult:
    """`ref` as a file if one exists there (or it ends in .json), else as a stored run id."""
    path = Path(ref)
    if ref.endswith(".json") or path.is_file():
        if not path.is_file():
            raise RunSourceError(f"{ref}: no such file")
        return _from_file(path)
    try:
        return RunStore(store_url(db)).get(ref)
    except StoreError as e:
        raise RunSourceError(str(e)) from None
