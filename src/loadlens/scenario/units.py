"""Parsers for the units a user types: durations, rates, sizes, stage lists."""

from __future__ import annotations

import re

__all__ = [
    "InputError",
    "parse_duration",
    "parse_rate",
    "parse_rate_stages",
    "parse_size",
    "parse_vu_stages",
]


class InputError(ValueError):
    """A value the user typed cannot be understood; the message says what and why."""


_DURATION_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|m|h))?\s*$")
_RATE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, *, what: str = "duration") -> float:
    """Read `500ms`, `30s`, `5m`, `1h`, `1m30s` (or a bare number of seconds) as seconds."""
    s = text.strip().lower()
    if not s:
        raise InputError(f"{what}: empty value; expected e.g. 30s, 500ms, 5m")
    try:
        value = float(s)
    except ValueError:
        pos, total = 0, 0.0
        for m in _DURATION_PART.finditer(s):
            if m.start() != pos:
                break
            total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
            pos = m.end()
        if pos != len(s) or pos == 0:
            raise InputError(
                f"{what}: cannot read {text!r}; expected a number with a unit "
                "(us, ms, s, m, h), e.g. 30s, 500ms, 5m, 1m30s"
            ) from None
        value = total
    if value < 0:
        raise InputError(f"{what}: {text!r} is negative")
    return value


def parse_rate(text: str, *, what: str = "rate") -> float:
    """Read `800/s`, `50/m`, `3600/h` or a bare `800` (per second) as a rate per second."""
    m = _RATE.match(text)
    if not m:
        raise InputError(f"{what}: cannot read {text!r}; expected e.g. 800/s, 50/m")
    return float(m.group(1)) / _RATE_UNITS[m.group(2) or "s"]


def _split_stages(text: str, what: str) -> list[tuple[str, str]]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise InputError(f"{what}: empty; expected e.g. 30s:100,60s:1000")
    out = []
    for p in parts:
        dur, sep, target = p.partition(":")
        if not sep:
            raise InputError(f"{what}: stage {p!r} should read DURATION:TARGET, e.g. 30s:100")
        out.append((dur, target))
    return out


def parse_vu_stages(text: str) -> list[tuple[float, int]]:
    """Read `30s:100,60s:1000,30s:0` as [(seconds, target users)]."""
    stages = []
    for dur, target in _split_stages(text, "--stages"):
        seconds = parse_duration(dur, what=f"--stages duration {dur!r}")
        try:
            users = int(target)
        except ValueError:
            raise InputError(
                f"--stages: target {target!r} is not a whole number of users"
            ) from None
        if users < 0:
            raise InputError(f"--stages: target {users} is negative")
        stages.append((seconds, users))
    return stages


def parse_rate_stages(text: str) -> list[tuple[float, float]]:
    """Read `30s:100/s,60s:800/s` as [(seconds, target rate per second)]."""
    return [
        (
            parse_duration(dur, what=f"--rate-stages duration {dur!r}"),
            parse_rate(target, what=f"--rate-stages target {target!r}"),
        )
        for dur, target in _split_stages(text, "--rate-stages")
    ]


def parse_size(text: str | int, *, what: str = "size") -> int:
    """Read `4MiB`, `64KiB`, `1.5MB`, `500kb` or a bare number of bytes as bytes (above 0)."""
    # pydantic's ByteSize knows the units (kb = 1000, kib = 1024); the message is ours.
    from pydantic import ByteSize, TypeAdapter, ValidationError

    if isinstance(text, bool):
        raise InputError(f"{what}: expected a size such as 4MiB, 64KiB, 1MB")
    try:
        size = int(TypeAdapter(ByteSize).validate_python(text))
    except ValidationError:
        raise InputError(
            f"{what}: cannot read {text!r}; expected a number of bytes or one with a unit "
            "(KB, MB, GB: powers of 1000; KiB, MiB, GiB: of 1024), e.g. 4MiB, 64KiB"
        ) from None
    if size <= 0:
        raise InputError(f"{what}: {text!r} must be above 0 bytes")
    return size
