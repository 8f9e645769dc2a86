"""The verdict in words, the same in the terminal, the HTML report and JUnit."""

from __future__ import annotations

from loadlens.metrics.run_result import RunResult, VerdictKind

__all__ = ["VERDICT_MEANING", "timing_error_text"]

# What each verdict means for the numbers, in one sentence.
VERDICT_MEANING = {
    VerdictKind.VALID: "the load generator kept up, so these numbers describe the target",
    VerdictKind.GENERATOR_BOUND: (
        "these numbers describe loadlens, not the target: the load generator did not deliver "
        "the load it was asked for, so latency and throughput are not the target's"
    ),
    VerdictKind.CONTENDED: (
        "other processes on this machine took the CPU loadlens needed, so its clock read "
        "responses late: latencies are overstated by up to the timing error"
    ),
    VerdictKind.INCONCLUSIVE: "there is nothing to judge the target by",
}


def timing_error_text(result: RunResult) -> str:
    """`timing error ≤ 1.2 ms (0.4% of the median latency)`, or '' for older results."""
    error = result.timing_error_ms
    if error is None:
        return ""
    median = result.totals.latency.p50
    share = f" ({error / median:.1%} of the median latency)" if median > 0 else ""
    return f"timing error ≤ {error:.1f} ms{share}"
