"""Threshold expressions: parsing, units, judging."""

from __future__ import annotations

import pytest

from loadlens.metrics.run_result import LatencyStats, Totals
from loadlens.metrics.thresholds import ThresholdError, parse_threshold


def _totals() -> Totals:
    return Totals(
        requests=1000,
        failures=5,
        error_rate=0.005,
        rps=850.0,
        latency=LatencyStats(
            count=995, min=1, mean=40, p50=35, p75=50, p90=70, p95=90, p99=150, p999=400, max=900
        ),
        service_time=LatencyStats(count=995, p99=20),
    )


@pytest.mark.parametrize(
    ("expression", "ok"),
    [
        ("p95<100ms", True),
        ("p99<100ms", False),
        ("avg<=40", True),
        ("max<1s", True),
        ("p99.9<0.3s", False),
        ("error_rate<1%", True),
        ("error_rate<0.004", False),
        ("rps>800", True),
        ("rps>=900/s", False),
        ("service.p99<25ms", True),
        ("med<35ms", False),
        ("p50<=35ms", True),
        ("latency.p999<500ms", True),
        ("requests>999", True),
    ],
)
def test_judging(expression: str, ok: bool) -> None:
    assert parse_threshold(expression).judge(_totals()).ok is ok


@pytest.mark.parametrize(
    "expression",
    ["p95<<fast", "p95<", "foo<1", "p95<1kg", "error_rate<1ms", "rps>1ms", "<100ms", "p95 100ms"],
)
def test_unparsable_thresholds_are_explained(expression: str) -> None:
    with pytest.raises(ThresholdError, match="threshold"):
        parse_threshold(expression)


def test_throughput_thresholds_wait_for_the_end() -> None:
    assert parse_threshold("rps>800").depends_on_elapsed_time
    assert not parse_threshold("p95<100ms").depends_on_elapsed_time


def test_latency_thresholds_never_hold_without_data() -> None:
    nothing_timed = Totals(requests=50, failures=50, error_rate=1.0)
    result = parse_threshold("p95<100ms").judge(nothing_timed)
    assert result.ok is False and result.note
    assert parse_threshold("error_rate<1%").judge(nothing_timed).ok is False
