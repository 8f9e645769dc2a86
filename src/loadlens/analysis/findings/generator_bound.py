"""The load generator, not the target, limited the run."""

from __future__ import annotations

from loadlens.metrics.run_result import Finding, RunResult, VerdictKind

__all__ = ["generator_bound"]


def generator_bound(result: RunResult) -> Finding | None:
    """A finding when the verdict is generator-bound (it outranks every other)."""
    if result.verdict is not VerdictKind.GENERATOR_BOUND:
        return None
    return Finding(
        id="generator-bound",
        severity="critical",
        title="loadlens itself was the bottleneck, so the target's figures cannot be read",
        evidence="; ".join(result.verdict_reasons),
        suggestion="Run again with more --workers or on more cores (or a second machine), "
        "or ask for less load; no finding about the target is made from this run.",
    )
