"""A run as JUnit XML: thresholds, checks and the verdict as test cases, for CI systems."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from loadlens.metrics.run_result import RunResult, VerdictKind
from loadlens.metrics.thresholds import measured_text
from loadlens.private_files import write_private

__all__ = ["junit_xml", "write_junit"]


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    """Without the characters XML 1.0 cannot hold (an exception's text, a tag or a name
    may have them: a control character, a lone surrogate, U+FFFE)."""
    return _NOT_XML.sub("?", value)


def _case(suite: ET.Element, classname: str, name: str, failure: str | None) -> None:
    name, failure = _text(name), None if failure is None else _text(failure)
    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")
    if failure is not None:
        ET.SubElement(case, "failure", message=failure, type="loadlens").text = failure


def junit_xml(result: RunResult) -> str:
    """One test suite: a case per threshold, per check, and one for the run's verdict."""
    suites = ET.Element("testsuites", name="loadlens")
    suite = ET.SubElement(
        suites, "testsuite", name=_text(f"loadlens {result.name}"),
        timestamp=_text(result.started_at), time=f"{result.duration_s:.3f}", hostname="loadlens",
    )  # fmt: skip
    properties = ET.SubElement(suite, "properties")
    for key, value in (("run_id", result.id), ("status", str(result.status)),
                       ("verdict", str(result.verdict)), ("rps", f"{result.totals.rps:.1f}"),
                       *((("timing_error_ms", f"{result.timing_error_ms:.3f}"),)
                         if result.timing_error_ms is not None else ()),
                       ("p95_ms", f"{result.totals.latency.p95:.2f}"),
                       ("error_rate", f"{result.totals.error_rate:.4f}"),
                       *((f"tag.{k}", v) for k, v in result.tags.items())):  # fmt: skip
        ET.SubElement(properties, "property", name=_text(key), value=_text(value))
    verdict_failure = None
    if result.verdict is not VerdictKind.VALID:
        verdict_failure = f"verdict {result.verdict}: " + "; ".join(result.verdict_reasons)
    _case(suite, "loadlens.verdict", "the run's numbers can be trusted", verdict_failure)
    for threshold in result.thresholds:
        failure = None
        if not threshold.ok:
            measured = measured_text(threshold.expression, threshold.value)
            failure = f"{threshold.expression} crossed: measured {measured}"
            if threshold.note:
                failure += f" ({threshold.note})"
        _case(suite, "loadlens.thresholds", threshold.expression, failure)
    for check in result.checks:
        fails, passes = check.fails, check.passes
        failure = f"failed {fails} of {fails + passes} times" if fails else None
        _case(suite, "loadlens.checks", check.name, failure)
    for error, count in result.script_errors.items():
        _case(suite, "loadlens.script", error, f"raised {count} times")
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")


def write_junit(result: RunResult, path: Path) -> None:
    """Write the JUnit XML file (0600, never through a link), creating parent folders."""
    write_private(path, junit_xml(result) + "\n")
