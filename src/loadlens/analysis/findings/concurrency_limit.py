"""A fixed number of requests served at once (a worker, thread or connection pool), found by
Little's law: requests in service = throughput x service time."""

from __future__ import annotations

import statistics
from typing import Any

from loadlens.analysis.findings.series import middle, target_monitor
from loadlens.metrics.histogram import encoded_percentile_ms
from loadlens.metrics.run_result import EndpointResult, Finding, RunResult

__all__ = ["concurrency_limit", "service_estimate"]

MIN_SECONDS = 5
FLAT = 0.2  # coefficient of variation of the per-second throughput, at most
QUEUED = 2.0  # requests in flight at least this many times those in service
MIN_WAIT_MS = 10.0  # and the mean response at least this much above the service time
MAX_ERRORS = 0.05  # fast failures would pass for fast service
MIN_SERVICE_MS = 2.0  # below it the fastest response says more of the network than the server
FAST_SHARE = 10.0  # percent of responses within 2x the service time, at most: most queued
CPU_BUSY = 80.0  # the target's machine share, percent: above it, the CPU is the limit
CORE_BUSY = 0.85  # the busiest target process, in cores


def service_estimate(endpoint: EndpointResult) -> tuple[float, str]:
    """The time one request takes when it does not queue (ms), and where it comes from."""
    # The fastest response found a free slot at once (network included); a part the server
    # reports of its own time (Server-Timing) is also a lower bound of the service time, so
    # the larger is the closer. A part as long as half the whole response may include the
    # wait for the slot itself (an app timing its handler from the top): not used.
    fastest = endpoint.service_time.min
    parts = [(name, st.mean_ms) for name, st in endpoint.server_timing.items()
             if fastest < st.mean_ms < 0.5 * endpoint.service_time.mean]  # fmt: skip
    if parts:
        name, mean_ms = max(parts, key=lambda part: part[1])
        return mean_ms, f"the server's own {name!r} time (Server-Timing)"
    return fastest, "the fastest responses"


def concurrency_limit(result: RunResult) -> Finding | None:
    """The target serves about N requests at a time while more wait, with CPU to spare."""
    points = [p for p in middle(result.timeline) if p.requests]
    endpoints = [e for e in result.endpoints if e.requests and e.service_time.count]
    totals = result.totals
    if len(points) < MIN_SECONDS or not endpoints or totals.error_rate > MAX_ERRORS:
        return None
    estimates = {e.name: service_estimate(e) for e in endpoints}
    rps = sum(e.rps for e in endpoints)
    if rps <= 0:
        return None
    # Little's law per endpoint, summed: each one's throughput times its service time.
    service_ms = sum(e.rps * estimates[e.name][0] for e in endpoints) / rps
    if service_ms < MIN_SERVICE_MS:
        return None
    # Nearly every response must have waited: where many were as fast as the service time
    # (cache hits beside misses, say), the fastest response is not the time a slot is held.
    for endpoint in endpoints:
        fast_ms = encoded_percentile_ms(result.histograms.get(endpoint.name, ""), FAST_SHARE)
        if fast_ms <= 2 * estimates[endpoint.name][0]:
            return None
    per_second = [p.rps * service_ms / 1000 for p in points]
    concurrency = statistics.median(per_second)
    mean_c = statistics.fmean(per_second)
    spread = statistics.pstdev(per_second) / mean_c if mean_c else 1.0
    in_flight = statistics.median(p.in_flight for p in points)
    latency_ms = totals.latency.mean
    if (
        concurrency < 0.5
        or spread > FLAT
        or in_flight < QUEUED * concurrency
        or latency_ms < QUEUED * service_ms
        or latency_ms - service_ms < MIN_WAIT_MS
    ):
        return None
    # The title states the figure the data holds (rounded once, not twice: 4.504 is "5" but
    # its 4.5 would read "4").
    concurrency = round(concurrency, 2)
    data: dict[str, Any] = {
        "concurrency": concurrency,
        "throughput_rps": round(statistics.median(p.rps for p in points), 2),
        "service_ms": round(service_ms, 3),
        "service_source": estimates[max(endpoints, key=lambda e: e.rps).name][1],
        "in_flight": in_flight,
        "latency_mean_ms": round(latency_ms, 3),
        "spread": round(spread, 3),
    }
    cpu_note = (" The target's CPU was not watched (--server, --monitor-pid): if it was busy, "
                "the limit is its cores, not a pool.")  # fmt: skip
    found = target_monitor(result)
    if found is not None:
        samples = middle(found[1]["timeline"])
        cpu = statistics.median([p.get("cpu_percent", 0.0) for p in samples] or [0.0])
        busiest = statistics.median([p.get("busiest_cores", 0.0) for p in samples] or [0.0])
        if cpu >= CPU_BUSY or busiest >= CORE_BUSY:
            return None  # a saturated CPU serves a fixed number at a time too: its finding
        data |= {"target_cpu_percent": round(cpu, 1), "busiest_cores": round(busiest, 3)}
        cpu_note = (
            f" Its CPU had room (median {cpu:.0f}% of the machine, busiest process "
            f"{busiest:.2f} cores), so the limit is a count, not the processor."
        )
    n = f"{concurrency:.0f}" if concurrency >= 1.5 else f"{concurrency:.1f}"
    return Finding(
        id="concurrency-limit",
        severity="high",
        title=f"The target serves about {n} requests at a time while {in_flight:.0f} wait",
        evidence=(
            f"{data['throughput_rps']:,.1f} req/s x {service_ms:.1f} ms per request "
            f"({data['service_source']}) = {concurrency:.1f} requests in service at once "
            f"(Little's law), steady through the run (±{spread:.0%}), while a median of "
            f"{in_flight:.0f} were in flight and responses took {latency_ms:.1f} ms on "
            f"average: most of that time was spent waiting for a free slot.{cpu_note}"
        ),
        suggestion=(
            f"A worker, thread or connection pool of about {n} sets this limit: raise it "
            "(gunicorn --workers/--threads, the app server's thread pool, the database "
            "pool's max size) or make each request hold it for less time; then run again "
            "and compare. Throughput should grow with the pool until another resource (the "
            "CPU, the database) saturates."
        ),
        data=data,
    )
