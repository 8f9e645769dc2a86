"""The target was never reached: nothing else about the run can be read."""

from __future__ import annotations

from urllib.parse import urlsplit

from loadlens.analysis.verdict import UNREACHABLE_KINDS
from loadlens.metrics.run_result import Finding, RunResult

__all__ = ["target_unreachable"]

_WHAT = {
    "connect-refused": ("was refused", "is the server running, and on this port?"),
    "connect-timeout": (
        "timed out before it was accepted",
        "is the host up, or is a firewall dropping the packets?",
    ),
    "connect-error": ("failed", "is the address right, and is there a route to it?"),
    "read-timeout": (
        "was accepted, but no request got a response before the timeout",
        "is the server stuck (a deadlock, a full worker pool), or is --timeout too short?",
    ),
    "reset": (
        "was reset before any response",
        "does the server crash on each request, or expect TLS (https://)?",
    ),
}


def _address(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def target_unreachable(result: RunResult) -> Finding | None:
    """No request got any response, and every failure was a connection that failed."""
    totals = result.totals
    kinds = {kind: n for kind, n in totals.errors.items() if n}
    responses = sum(totals.status_codes.values())
    if not totals.requests or responses or not kinds:
        return None
    if not set(kinds) <= UNREACHABLE_KINDS:
        return None
    worst = max(kinds, key=lambda kind: kinds[kind])
    happened, question = _WHAT[worst]
    addresses = list(dict.fromkeys(_address(e.url) for e in result.endpoints if e.url))
    where = ", ".join(addresses) or "the target"
    every = "every connection" if len(kinds) == 1 else "the connections"
    listed = ", ".join(f"{kind} {n:,}" for kind, n in sorted(kinds.items()))
    return Finding(
        id="target-unreachable",
        severity="critical",
        title=f"The target was unreachable: {every} to {where} {happened}",
        evidence=(
            f"{totals.requests:,} requests, none got a response ({listed}); no latency or "
            "throughput of the target was measured"
        ),
        suggestion=f"Check the target before anything else: {question}",
        data={"addresses": addresses, "requests": totals.requests, "errors": kinds, "kind": worst},
    )
