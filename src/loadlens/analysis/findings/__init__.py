"""Diagnosis: rules that read a finished run and say what is wrong, with the evidence.

One module per rule; each is a function from the RunResult to a Finding or None. A target
that was never reached outranks everything: nothing else about the run can be read. Then a
generator-bound or contended verdict outranks the rest: when loadlens itself was the
bottleneck, or was crowded out of the CPU, the latency and throughput it measured cannot be
read, so no finding made from them is made. Only findings read from counts (the target's
database scans and sessions, its memory, the connections it made loadlens open, the share
of requests that failed) still stand beside it.
"""

from __future__ import annotations

from collections.abc import Callable

from loadlens.analysis.findings.concurrency_limit import concurrency_limit
from loadlens.analysis.findings.connection_churn import connection_per_request
from loadlens.analysis.findings.database import db_connection_per_request, full_table_scan
from loadlens.analysis.findings.database_time import database_time_dominates, slow_statements
from loadlens.analysis.findings.error_rate import error_rate
from loadlens.analysis.findings.error_surge import error_surge
from loadlens.analysis.findings.load_response import latency_knee, throughput_ceiling
from loadlens.analysis.findings.memory_growth import memory_growth
from loadlens.analysis.findings.target_cpu import target_cpu_idle_while_slow, target_cpu_saturated
from loadlens.analysis.findings.target_unreachable import target_unreachable
from loadlens.analysis.findings.untrusted_timing import contended, generator_bound
from loadlens.metrics.run_result import Finding, RunResult

__all__ = ["RULES", "UNTIMED_RULES", "diagnose"]

Rule = Callable[[RunResult], Finding | None]

# In the order they are listed: the likeliest root cause first.
RULES: tuple[Rule, ...] = (
    full_table_scan,
    db_connection_per_request,
    database_time_dominates,
    slow_statements,
    target_cpu_saturated,
    concurrency_limit,
    target_cpu_idle_while_slow,
    throughput_ceiling,
    latency_knee,
    error_rate,
    error_surge,
    memory_growth,
    connection_per_request,
)


# Rules that read no latency, throughput or timing of loadlens's.
UNTIMED_RULES: tuple[Rule, ...] = (
    full_table_scan,
    db_connection_per_request,
    error_rate,
    memory_growth,
    connection_per_request,
)


def diagnose(result: RunResult) -> list[Finding]:
    """Every finding the run supports."""
    unreachable = target_unreachable(result)
    if unreachable is not None:
        return [unreachable]
    outranking = generator_bound(result) or contended(result)
    if outranking is not None:
        return [outranking, *(f for rule in UNTIMED_RULES if (f := rule(result)) is not None)]
    return [finding for rule in RULES if (finding := rule(result)) is not None]
