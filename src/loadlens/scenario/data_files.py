"""Reads a feeder's data file (CSV with a header row, or a JSON array of objects)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

__all__ = ["DataFileError", "read_rows"]

_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class DataFileError(ValueError):
    """A data file that cannot be used; the message says why."""


def _checked(rows: list[dict[str, str]], file: Path) -> list[dict[str, str]]:
    if not rows:
        raise DataFileError(f"{file}: has no rows")
    columns = list(rows[0])
    for column in columns:
        if not _COLUMN.match(column):
            raise DataFileError(
                f"{file}: column {column!r} cannot be a variable name (letters, digits, _ and -)"
            )
    for number, row in enumerate(rows, start=1):
        if list(row) != columns:
            raise DataFileError(f"{file}: row {number} has columns {list(row)}, not {columns}")
    return rows


def _cell(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    raise DataFileError(f"{value!r} is not a plain value (text, number, true/false)")


def read_rows(file: Path) -> list[dict[str, str]]:
    """Every row of `file` as text values, by column name."""
    try:
        text = file.read_text(encoding="utf-8-sig")  # a BOM from a spreadsheet is no column
    except FileNotFoundError:
        raise DataFileError(f"{file}: no such file") from None
    except OSError as e:
        raise DataFileError(f"{file}: cannot read it ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise DataFileError(f"{file}: not UTF-8 text ({e.reason})") from None
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataFileError(f"{file}:{e.lineno}: not valid JSON ({e.msg})") from None
        if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
            raise DataFileError(f"{file}: expected a JSON array of objects")
        try:
            return _checked([{str(k): _cell(v) for k, v in row.items()} for row in data], file)
        except DataFileError as e:
            raise DataFileError(
                str(e) if str(e).startswith(str(file)) else f"{file}: {e}"
            ) from None
    if file.suffix.lower() not in (".csv", ".tsv", ".txt"):
        raise DataFileError(f"{file}: expected a .csv or .json file")
    # StringIO with newline="": quoted fields keep the line breaks they hold.
    reader = csv.DictReader(
        io.StringIO(text, newline=""), delimiter="\t" if file.suffix == ".tsv" else ","
    )
    rows = []
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            raise DataFileError(
                f"{file}:{reader.line_num}: the row has a different number of fields than the "
                "header"
            )
        rows.append({k.strip(): v for k, v in row.items()})
    return _checked(rows, file)
