"""`execution.keep`: each place a result goes is tried whatever became of the others, and a
result that no place asked for took is kept in a fallback file that stderr names."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from loadlens.execution import keep
from loadlens.metrics.run_result import RunResult


def _result() -> RunResult:
    return RunResult.model_validate({
        "id": "feed01", "name": "checkout", "started_at": "2026-11-28T10:00:00+01:00",
        "ended_at": "2026-11-28T10:00:10+01:00", "duration_s": 10.0, "status": "completed",
        "verdict": "valid", "environment": {}, "load": {"executor": "constant-vus"},
        "totals": {"requests": 3}, "endpoints": [],
    })  # fmt: skip


def test_a_working_store_and_out_keep_it_and_say_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    kept = keep(_result(), out=out, db=str(tmp_path / "runs.db"), to_store=True)
    assert (kept.out, kept.fallback, kept.failed) == (out, None, False)
    assert kept.stored_in == str(tmp_path / "runs.db")
    assert capsys.readouterr().err == ""


def test_with_no_home_to_write_in_the_fallback_goes_to_the_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "home").write_text("")  # ~/.loadlens cannot be made: HOME is a file
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    kept = keep(_result(), out=None, db=None, to_store=True)
    assert kept.failed and kept.stored_in is None
    assert kept.fallback is not None and kept.fallback.parent == scratch
    assert kept.fallback.name.startswith("loadlens-unsaved-feed01-")
    assert kept.fallback.stat().st_mode & 0o777 == 0o600
    assert RunResult.model_validate_json(kept.fallback.read_text()).id == "feed01"
    assert f"its result is kept in {kept.fallback}" in capsys.readouterr().err
