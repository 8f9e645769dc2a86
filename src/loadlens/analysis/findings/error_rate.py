"""A sustained share of failed requests, by what failed them: shedding, rate limiting,
failing code, timeouts, resets; by endpoint; and from the second it began."""

from __future__ import annotations

from typing import Any

from loadlens.analysis.findings.error_surge import error_surge
from loadlens.analysis.findings.series import error_rate_limit, middle
from loadlens.metrics.run_result import Finding, RunResult, TimelinePoint

__all__ = ["error_rate"]

MIN_SECONDS = 3
FLOOR = 0.001  # a threshold of `error_rate<=0` still wants a real share before a finding
HIGH = 0.10  # from this share on, the finding is high severity

# What each cause means, and what to do about it. Keys are status codes or error kinds.
_CAUSES: dict[str, tuple[str, str]] = {
    "503": (
        "the target sheds load (503 Service Unavailable)",
        "a queue, worker pool or connection pool is full, or an upstream is overloaded: "
        "raise the pool that runs out (its size is in the concurrency the target "
        "sustains), add instances, or shed less eagerly",
    ),
    "429": (
        "the target rate-limits the load (429 Too Many Requests)",
        "a rate limiter (in the app, a gateway or a CDN) rejects requests over its "
        "limit: raise it for this test, or test below it on purpose",
    ),
    "500": (
        "the target's code fails (500 Internal Server Error)",
        "an exception under load: read the server's log for the first traceback "
        "(pool exhausted, a deadlock, a timeout to a dependency, a race)",
    ),
    "502": (
        "a proxy's upstream failed (502 Bad Gateway)",
        "the app behind the proxy crashed, restarted or closed connections: check "
        "its log and the proxy's upstream keep-alive settings",
    ),
    "504": (
        "a proxy's upstream timed out (504 Gateway Timeout)",
        "the app behind the proxy is too slow for the proxy's timeout: the same "
        "causes as slow responses, seen through the proxy",
    ),
    "read-timeout": (
        "requests timed out",
        "the target did not answer within --timeout: it queues more work "
        "than it can finish, or waits on something (a lock, a pool, a slow "
        "query); the latency findings say which",
    ),
    "reset": (
        "connections were reset",
        "the server (or its listen backlog) dropped connections: a crashing worker, "
        "a full accept queue (raise the backlog, add workers), or a proxy closing "
        "idle connections",
    ),
    "connect-refused": (
        "connections were refused",
        "nothing accepted new connections for a while: a restarting "
        "server or a full listen backlog",
    ),
    "connect-timeout": (
        "connects timed out",
        "the server's accept queue is full or packets are dropped",
    ),
    "check-failed": (
        "responses failed the scenario's checks",
        "the target answered, but not what the checks expect: compare a "
        "failing response with a good one",
    ),
}
_CLIENT = ("the target rejects the requests (4xx)",
           "a 4xx under load is often the scenario's fault (an expired token, a wrong "
           "URL, data used up) rather than the load's: check the requests")  # fmt: skip
_OTHER = ("requests failed", "look at the target's log for the first failures")


def _rate(points: list[TimelinePoint]) -> float:
    requests = sum(p.requests for p in points)
    return sum(p.failures for p in points) / requests if requests else 0.0


def _causes(result: RunResult) -> dict[str, int]:
    """Failures by cause: an HTTP status >= 400, or a kind without a status."""
    totals = result.totals
    causes = {code: n for code, n in totals.status_codes.items() if int(code) >= 400 and n}
    for kind, n in totals.errors.items():
        if n and kind not in ("http-4xx", "http-5xx"):
            causes[kind] = n
    return dict(sorted(causes.items(), key=lambda kv: -kv[1]))


def _explain(cause: str) -> tuple[str, str]:
    if cause in _CAUSES:
        return _CAUSES[cause]
    if cause.isdigit() and cause.startswith("4"):
        return _CLIENT
    if cause.isdigit():
        return (f"the target answered {cause}", _CAUSES["500"][1])
    return _OTHER


def error_rate(result: RunResult) -> Finding | None:
    """Failed requests above the limit for most of the run, not only at its end."""
    points = [p for p in middle(result.timeline) if p.requests]
    if len(points) < MIN_SECONDS or error_surge(result) is not None:
        return None  # too short to say "sustained"; a surge has its own finding
    limit = max(error_rate_limit(result), FLOOR)
    rate = _rate(points)
    failing = [p for p in points if p.failures / p.requests >= limit]
    if rate < limit or len(failing) * 2 < len(points):
        return None
    # From the first second at the limit after which the rest of the run stayed there.
    every = [p for p in result.timeline if p.requests]
    since = next(
        (p.t for i, p in enumerate(every)
         if p.failures / p.requests >= limit and _rate(every[i:]) >= limit),
        failing[0].t,
    )  # fmt: skip
    causes = _causes(result)
    total = sum(causes.values()) or 1
    main = next(iter(causes), "?")
    what, advice = _explain(main)
    listed = ", ".join(f"{cause} {n:,} ({n / total:.0%})" for cause, n in list(causes.items())[:6])
    by_endpoint = {e.name: round(e.error_rate, 4) for e in result.endpoints if e.requests}
    worst = ""
    if len(by_endpoint) > 1:
        ranked = sorted(result.endpoints, key=lambda e: -e.error_rate)[:3]
        worst = "; by endpoint: " + ", ".join(f"{e.name} {e.error_rate:.1%}" for e in ranked)
    data: dict[str, Any] = {
        "error_rate": round(rate, 4),
        "limit": limit,
        "since_s": since,
        "failing_seconds": len(failing),
        "seconds": len(points),
        "cause": main,
        "by_cause": causes,
        "by_endpoint": by_endpoint,
    }
    return Finding(
        id="error-rate",
        severity="high" if rate >= HIGH else "medium",
        title=f"{rate:.0%} of requests failed: {what}",
        evidence=(
            f"the error rate was {rate:.1%} over the run (at or above {limit:.1%} in "
            f"{len(failing)} of {len(points)} seconds, from {since} s on); failures by "
            f"cause: {listed}{worst}"
        ),
        suggestion=f"{advice[0].upper()}{advice[1:]}.",
        data=data,
    )
