"""The RunResult document (schema `loadlens.run/1`): what a run produced, as data."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "SCHEMA",
    "CapacityFit",
    "CapacityReport",
    "CapacityStep",
    "CheckResult",
    "Contender",
    "EndpointPoint",
    "EndpointResult",
    "Finding",
    "GeneratorPoint",
    "GeneratorReport",
    "LatencyStats",
    "RunResult",
    "ServerTimingStats",
    "ThresholdResult",
    "TimelinePoint",
    "Totals",
]

SCHEMA = "loadlens.run/1"


class VerdictKind(StrEnum):
    """Whether the run's numbers describe the target."""

    VALID = "valid"
    GENERATOR_BOUND = "generator-bound"  # loadlens's own work was the limit
    CONTENDED = "contended"  # other processes took the CPU loadlens needed
    INCONCLUSIVE = "inconclusive"  # nothing to judge: no response, a worker lost


class RunStatus(StrEnum):
    """How a run ended."""

    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    ABORTED = "aborted"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LatencyStats(_Model):
    """Latency distribution in milliseconds."""

    count: int = 0
    min: float = 0.0
    mean: float = 0.0
    p50: float = 0.0
    p75: float = 0.0
    p90: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    p999: float = 0.0
    max: float = 0.0


class Totals(_Model):
    """Counts and latency over the whole run (or one endpoint)."""

    requests: int = 0
    failures: int = 0
    error_rate: float = 0.0
    rps: float = 0.0
    bytes_in: int = 0
    bytes_out: int = 0
    iterations: int = 0
    dropped_iterations: int = 0
    interrupted_iterations: int = 0
    checks_passed: int = 0
    checks_failed: int = 0
    status_codes: dict[str, int] = Field(default_factory=dict)
    errors: dict[str, int] = Field(default_factory=dict)
    latency: LatencyStats = Field(default_factory=LatencyStats)
    service_time: LatencyStats = Field(default_factory=LatencyStats)
    clamped_values: int = 0


class EndpointPoint(_Model):
    """One second of one endpoint, all workers merged."""

    t: int
    requests: int
    failures: int
    latency: dict[str, float]


class ServerTimingStats(_Model):
    """One metric of the target's Server-Timing header (W3C), over the run."""

    count: int  # responses that reported it
    mean_ms: float
    max_ms: float
    total_ms: float
    share: float  # total over the service time of all the endpoint's responses


class EndpointResult(Totals):
    """Totals for one request of the scenario, and its per-second series."""

    name: str
    method: str
    url: str
    timeline: list[EndpointPoint] = Field(default_factory=list)
    # Where the server says the time went, by metric name (db, cache, app...), when it
    # sends a Server-Timing header.
    server_timing: dict[str, ServerTimingStats] = Field(default_factory=dict)


class ThresholdResult(_Model):
    """One threshold and whether it held."""

    expression: str
    value: float
    ok: bool
    note: str | None = None


class TimelinePoint(_Model):
    """One second of the run, all workers merged."""

    t: int
    users: int
    rps: float
    requests: int
    failures: int
    in_flight: int
    dropped: int
    latency: dict[str, float]
    service_time_p99: float = 0.0


class GeneratorPoint(_Model):
    """The load generator's own health during one second (worst worker), and the machine's."""

    t: int
    cpu_percent: float
    cpu_percent_by_worker: list[float] = Field(default_factory=list)
    loop_lag_ms: float
    schedule_lag_ms: float
    # Time a worker's loop was runnable but waiting for a CPU (Linux schedstat), in ms over
    # the second; None where the kernel does not say (then `preemptions` stands in for it).
    run_delay_ms: float | None = None
    run_delay_ms_by_worker: list[float] = Field(default_factory=list)
    preemptions: int = 0  # involuntary context switches, all workers
    # The whole machine's CPU use, and what processes other than loadlens took of it, in
    # percent of the machine (all cores); None when the machine was not sampled.
    host_cpu_percent: float | None = None
    others_cpu_percent: float | None = None


class CheckResult(_Model):
    """One check over the run: how many responses passed it and how many failed."""

    name: str
    passes: int = 0
    fails: int = 0


class Contender(_Model):
    """Another process that used the generator's machine during the run."""

    name: str  # with the script, for an interpreter: `python (app.py)`
    pid: int
    cpu_percent: float  # of one core, over the run


class GeneratorReport(_Model):
    """How the load generator itself fared: each second, and over the run."""

    timeline: list[GeneratorPoint] = Field(default_factory=list)
    loop_lag_p99_ms: float = 0.0
    schedule_lag_p99_ms: float = 0.0
    connections_opened: int = 0
    contenders: list[Contender] = Field(default_factory=list)
    steal_percent: float = 0.0  # of one core: CPU the hypervisor gave other machines
    machine_watch_cpu_ms: float = 0.0  # what watching the machine cost
    notes: list[str] = Field(default_factory=list)  # a data file ran out, a worker was lost


class CapacityStep(_Model):
    """One step of a capacity search: the rate asked for, and how the target held it."""

    step: int
    rate: float  # arrivals per second asked for
    requests: int
    throughput: float = 0.0  # good responses per second
    concurrency: float = 0.0  # requests in the system (Little's law), for the USL fit
    p95_ms: float
    error_rate: float
    dropped: int = 0
    ok: bool  # within the SLO


class CapacityFit(_Model):
    """The Universal Scalability Law fitted to a capacity search's steps."""

    sigma: float  # contention
    kappa: float  # coherency (crosstalk)
    lam: float  # throughput of one request in flight
    r_squared: float
    points: int
    peak_concurrency: float | None = None
    peak_throughput: float | None = None


class CapacityReport(_Model):
    """A capacity search: its steps, the highest rate within the SLO, the USL fit."""

    highest_rate_within_slo: float = 0.0
    steps: list[CapacityStep] = Field(default_factory=list)
    usl: CapacityFit | None = None
    usl_summary: str = ""


class Finding(_Model):
    """Something analysis noticed, with the evidence and what to do about it."""

    id: str
    severity: str
    title: str
    evidence: str
    suggestion: str
    # The figures the evidence quotes, by name, for tools (the UI, a CI bot) to read
    # without parsing prose: {"concurrency": 4.1, "throughput_rps": 26.7, "service_ms": 150}.
    data: dict[str, Any] = Field(default_factory=dict)


class RunResult(_Model):
    """Everything one run measured."""

    schema_: str = Field(default=SCHEMA, alias="schema")
    id: str
    name: str
    tags: dict[str, str] = Field(default_factory=dict)
    started_at: str
    ended_at: str
    duration_s: float
    status: RunStatus
    verdict: VerdictKind
    verdict_reasons: list[str] = Field(default_factory=list)
    # The most the generator's own lateness can have added to a measured time (ms): event
    # loop lag p99, and schedule lag p99 for open models. None in runs stored before it.
    timing_error_ms: float | None = None
    environment: dict[str, Any]
    load: dict[str, Any]
    totals: Totals
    endpoints: list[EndpointResult]
    checks: list[CheckResult] = Field(default_factory=list)
    # A Python scenario's exceptions, by `file:line: Type: message`: each ended an iteration.
    script_errors: dict[str, int] = Field(default_factory=dict)
    thresholds: list[ThresholdResult] = Field(default_factory=list)
    timeline: list[TimelinePoint] = Field(default_factory=list)
    monitors: dict[str, Any] = Field(default_factory=dict)
    generator: GeneratorReport = Field(default_factory=GeneratorReport)
    capacity: CapacityReport | None = None
    findings: list[Finding] = Field(default_factory=list)
    histograms: dict[str, str] = Field(default_factory=dict)
    # False: URL credentials, secret query values and auth headers were masked (***) as the
    # result was built; True: `--show-secrets` kept them as given.
    secrets_shown: bool = False

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json(self) -> str:
        """The JSON document, with `schema` as its first key."""
        return self.model_dump_json(by_alias=True, indent=2)
