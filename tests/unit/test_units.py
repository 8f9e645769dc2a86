"""Durations, rates and stage lists as a user types them."""

from __future__ import annotations

import pytest

from loadlens.scenario.units import (
    InputError,
    parse_duration,
    parse_rate,
    parse_rate_stages,
    parse_vu_stages,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("1m30s", 90),
        ("200", 200),
        ("250us", 0.00025),
        ("1.5s", 1.5),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10parsecs", "s", "5 m", "-3s", "1m-"])
def test_bad_durations_say_what_was_expected(text: str) -> None:
    with pytest.raises(InputError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "rate"), [("800/s", 800), ("50/m", 50 / 60), ("3600/h", 1), ("12", 12), ("0.5/s", 0.5)]
)
def test_rates(text: str, rate: float) -> None:
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize("text", ["abc", "800/d", "/s", "-5/s"])
def test_bad_rates(text: str) -> None:
    with pytest.raises(InputError, match="rate"):
        parse_rate(text)


def test_stage_lists() -> None:
    assert parse_vu_stages("30s:100,60s:1000,30s:0") == [(30, 100), (60, 1000), (30, 0)]
    assert parse_rate_stages("30s:100/s,1m:800/s") == [(30, 100), (60, 800)]
    with pytest.raises(InputError, match="DURATION:TARGET"):
        parse_vu_stages("30s")
    with pytest.raises(InputError, match="whole number"):
        parse_vu_stages("30s:ten")
