"""What a run says reaches the terminal as text: escape sequences shown, never obeyed."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from loadlens.metrics.run_result import RunResult
from loadlens.printable import printable
from loadlens.reporting.summary import render_summary

CLEAR_SCREEN = "\x1b[2J"
RETITLE = "\x1b]0;pwned\x07"
RIGHT_TO_LEFT = "\u202e"


def _result(endpoint: str, metric: str, note: str) -> RunResult:
    stats = {"count": 10, "mean": 1.0, "p50": 1.0, "p95": 2.0, "max": 3.0}
    document: dict[str, Any] = {
        "id": "abc", "name": f"run {endpoint}", "started_at": "2026-11-28T00:00:00+00:00",
        "ended_at": "2026-11-28T00:00:02+00:00", "duration_s": 2.0, "status": "completed",
        "verdict": "valid", "verdict_reasons": [], "environment": {},
        "load": {"executor": "constant-vus"},
        "totals": {"requests": 10, "rps": 5.0, "latency": stats, "service_time": stats,
                   "status_codes": {"200": 10}},
        "endpoints": [{"name": endpoint, "method": "GET", "url": f"http://127.0.0.1:9/{endpoint}",
                       "requests": 10, "failures": 0, "latency": stats, "status_codes": {},
                       "server_timing": {metric: {"count": 10, "mean_ms": 1.0, "max_ms": 2.0,
                                                  "total_ms": 10.0, "share": 0.5}}},
                      {"name": "b", "method": "GET", "url": "http://127.0.0.1:9/b",
                       "requests": 10, "failures": 0, "latency": stats, "status_codes": {}}],
        "timeline": [], "monitors": {}, "generator": {"notes": [note]},
    }  # fmt: skip
    return RunResult.model_validate(document)


def _printed(result: RunResult) -> str:
    out = io.StringIO()
    # No colours: any ESC in the output can only have come from the data.
    render_summary(result, Console(file=out, width=200, color_system=None))
    return out.getvalue()


@pytest.mark.parametrize("sequence", [CLEAR_SCREEN, RETITLE, RIGHT_TO_LEFT])
def test_names_metrics_and_notes_from_a_run_cannot_drive_the_terminal(sequence: str) -> None:
    text = _printed(_result(f"list{sequence}", f"db{sequence}", f"note{sequence}"))
    assert sequence not in text and "\x1b" not in text and "\x07" not in text
    shown = printable(sequence)
    assert f"list{shown}" in text and f"db{shown}" in text and f"note{shown}" in text


def test_plain_names_and_markup_like_text_print_as_they_are() -> None:
    text = _printed(_result("list [red]items[/]", "db", "cache warm"))
    assert "list [red]items[/]" in text and "cache warm" in text and "\\x" not in text


def test_printable_keeps_text_and_escapes_controls() -> None:
    assert printable("héllo wörld ✓\ttab\nline") == "héllo wörld ✓\ttab\nline"
    assert printable("a\tb\nc", one_line=True) == "a\\tb\\nc"
    assert printable("\x1b[31m\x00\x7f\x9b") == "\\x1b[31m\\x00\\x7f\\x9b"
    assert printable("\u202eevil\u2066") == "\\u202eevil\\u2066"
