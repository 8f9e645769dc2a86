"""Diagnosis: rules that read a finished run and say what is wrong, with the evidence.

One module per rule; each is a function from the RunResult to a Finding or None. The
generator-bound verdict outranks them all: when loadlens itself was the bottleneck, the
latency and throughput it measured cannot be read, so no finding made from them is made.
Only findings read from counts the target side keeps itself (its database's scans and
sessions, its memory, the connections it made loadlens open) still stand beside it.
"""

from __future__ import annotations

from collections.abc import Callable

from loadlens.analysis.findings.connection_churn import connection_per_request
from loadlens.analysis.findings.database import db_connection_per_request, full_table_scan
from loadlens.analysis.findings.database_time import database_time_dominates, slow_statements
from loadlens.analysis.findings.error_surge import error_surge
from loadlens.analysis.findings.generator_bound import generator_bound
from loadlens.analysis.findings.load_response import latency_knee, throughput_ceiling
from loadlens.analysis.findings.memory_growth import memory_growth
from loadlens.analysis.findings.target_cpu import target_cpu_idle_while_slow, target_cpu_saturated
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
    target_cpu_idle_while_slow,
    throughput_ceiling,
    latency_knee,
    error_surge,
    memory_growth,
    connection_per_request,
)


# Rules that read no latency, throughput or timing of loadlens's.
UNTIMED_RULES: tuple[Rule, ...] = (
    full_table_scan,
    db_connection_per_request,
    memory_growth,
    connection_per_request,
)


def diagnose(result: RunResult) -> list[Finding]:
    """Every finding the run supports."""
    outranking = generator_bound(result)
    if outranking is not None:
        return [outranking, *(f for rule in UNTIMED_RULES if (f := rule(result)) is not None)]
    return [finding for rule in RULES if (finding := rule(result)) is not None]
