"""How a command ends: the process exit codes, and the exit for bad input."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    from loadlens.metrics.run_result import RunResult

__all__ = ["ExitCode", "exit_code_for", "fail_input"]


class ExitCode:
    """The process exit codes (DESIGN.md): scripts and CI depend on them."""

    OK = 0
    INTERNAL = 1
    BAD_INPUT = 2
    # The run finished, but --out, the store or a report could not be written; stderr
    # says why and where the result is instead (the store, --out, or a fallback file).
    NOT_KEPT = 3
    NOT_VALID = 98  # generator-bound, contended, or nothing to judge (an unreachable target)
    THRESHOLD_CROSSED = 99
    INTERRUPTED = 130


def exit_code_for(result: RunResult, *, all_written: bool = True) -> int:
    """Interrupted beats not written where asked beats broken beats untrustworthy beats
    a crossed threshold."""
    from loadlens.metrics.run_result import RunStatus, VerdictKind

    if result.status is RunStatus.INTERRUPTED:
        return ExitCode.INTERRUPTED
    if not all_written:
        # A script reading the result where it asked for it would find nothing there.
        return ExitCode.NOT_KEPT
    if result.status is RunStatus.ABORTED and result.verdict is VerdictKind.INCONCLUSIVE:
        return ExitCode.INTERNAL  # a worker was lost: part of the load never ran
    if result.verdict is not VerdictKind.VALID:
        return ExitCode.NOT_VALID
    if result.status is RunStatus.ABORTED or not all(t.ok for t in result.thresholds):
        return ExitCode.THRESHOLD_CROSSED
    return ExitCode.OK


def fail_input(message: str) -> NoReturn:
    """Say what is wrong with the input (a file, a process, a store) and exit 2."""
    from loadlens.printable import printable

    # (Messages quote the input, which may hold escape sequences: shown, not obeyed.)
    click.echo(f"loadlens: {printable(message)}", err=True)
    sys.exit(ExitCode.BAD_INPUT)
