"""Report files hold whatever text a run carries: CSV cells stay cells (and never run as a
spreadsheet formula), JUnit stays XML, and one report that fails leaves the others."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

from loadlens.metrics.run_result import RunResult
from loadlens.reporting.csv_export import write_csv
from loadlens.reporting.junit_report import junit_xml
from loadlens.reporting.report_files import write_reports

AWKWARD = [
    "tab\there",
    "cr\rhere",
    "lf\nhere",
    'a "quoted" word',
    "comma, here",
    '=HYPERLINK("http://evil")',
    "+1+2",
    "-2+3",
    "@SUM(A1)",
    "\tstarts with a tab",
]


def _result(names: list[str], *, name: str = "checkout", tags: dict[str, str] | None = None
            ) -> RunResult:  # fmt: skip
    return RunResult.model_validate({
        "id": "abc123", "name": name, "tags": tags or {},
        "started_at": "2026-11-28T10:00:00+01:00", "ended_at": "2026-11-28T10:00:10+01:00",
        "duration_s": 10.0, "status": "completed", "verdict": "valid", "environment": {},
        "load": {"executor": "constant-vus", "users": 1, "duration": 10.0},
        "totals": {"requests": 3, "rps": 0.3},
        "endpoints": [{"name": n, "method": "GET", "url": f"http://h/{i}", "requests": 1}
                      for i, n in enumerate(names)],
        "checks": [{"name": n, "passes": 1} for n in names],
    })  # fmt: skip


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_awkward_names_stay_one_cell_each_and_formulas_are_defused(tmp_path: Path) -> None:
    write_csv(_result(AWKWARD, name="=cmd|' /C calc'!A0"), tmp_path)
    rows = _rows(tmp_path / "endpoints.csv")
    assert len(rows) == len(AWKWARD)  # a CR or LF in a name did not start a row
    formula = ("=", "+", "-", "@", "\t")
    expected = ["'" + n if n.startswith(formula) else n for n in AWKWARD]
    assert [row["name"] for row in rows] == expected
    assert [int(row["requests"]) for row in rows] == [1] * len(AWKWARD)
    assert _rows(tmp_path / "summary.csv")[0]["name"] == "'=cmd|' /C calc'!A0"
    raw = (tmp_path / "endpoints.csv").read_text(encoding="utf-8")
    assert '"tab\there"' in raw  # quoted, so a tab-separated reading keeps it whole


def test_plain_names_and_numbers_are_written_as_they_are(tmp_path: Path) -> None:
    write_csv(_result(["GET /ok", "login step"]), tmp_path)
    rows = _rows(tmp_path / "endpoints.csv")
    assert [row["name"] for row in rows] == ["GET /ok", "login step"]
    summary = _rows(tmp_path / "summary.csv")[0]
    assert summary["requests"] == "3" and summary["name"] == "checkout"
    assert float(summary["rps"]) == 0.3


def test_junit_drops_what_xml_cannot_hold_from_names_messages_and_properties() -> None:
    bad = "a\x00b\x1bc\x0bd\ud800e\ufffef"
    xml = junit_xml(_result([bad], name=f"run {bad}", tags={f"k{bad}": f"v{bad}"}))
    root = ET.fromstring(xml)  # parses: nothing XML 1.0 forbids is left
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("name") == "loadlens run a?b?c?d?e?f"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["tag.ka?b?c?d?e?f"] == "va?b?c?d?e?f"
    assert "a?b?c?d?e?f" in {c.get("name") for c in suite.iter("testcase")}


def test_junit_keeps_ordinary_text_whole() -> None:
    text = "tab\tcr\rlf\n é ✓ 😀 <&>"
    suite = ET.fromstring(junit_xml(_result([], tags={"note": text}))).find("testsuite")
    assert suite is not None
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["tag.note"] == text


def test_a_report_that_cannot_be_written_leaves_the_others(tmp_path: Path) -> None:
    victim = tmp_path / "victim.html"
    victim.write_text("precious")
    link = tmp_path / "report.html"
    link.symlink_to(victim)
    junit, csv_dir = tmp_path / "junit.xml", tmp_path / "csv"
    files = write_reports(_result(["GET /ok"]), link, junit, csv_dir)
    assert files.failed == [
        f"--html {link}: not written: {link} is a symbolic link (to {victim}); loadlens "
        "does not write through links: remove it or choose another path"
    ]
    assert files.written == [junit, csv_dir / "summary.csv", csv_dir / "endpoints.csv",
                             csv_dir / "timeline.csv"]  # fmt: skip
    assert victim.read_text() == "precious"
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in files.written)
    everything = write_reports(_result(["GET /ok"]), tmp_path / "r.html", None, None)
    assert everything.failed == [] and everything.written == [tmp_path / "r.html"]
