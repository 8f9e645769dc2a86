"""The W3C Server-Timing response header: where the server says its time went.

`Server-Timing: db;dur=53.2;desc="orders", cache;desc="miss", app;dur=4.1` becomes
`[("db", 53.2), ("app", 4.1)]` (metrics without `dur` carry no time, so are left out).

Parsed by hand because no maintained Python library parses it, and because it runs on the
engine's hot path: the connection hands over the raw bytes of the response's first
chunk, and `has_server_timing` is one substring search per response (~50 ns); the
regular expressions run only on responses that carry the header.
"""

from __future__ import annotations

import math
import re

__all__ = ["MAX_COMPONENTS", "has_server_timing", "parse_server_timing"]

# A server that puts ids in metric names would otherwise grow the result without bound.
MAX_COMPONENTS = 16

_HEADER = re.compile(rb"^server-timing[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE | re.MULTILINE)
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_VALUE = r'"(?:[^"\\]|\\.)*"|[^,;\s]*'
_METRIC = re.compile(rf"\s*({_TOKEN})((?:\s*;\s*{_TOKEN}(?:\s*=\s*(?:{_VALUE}))?)*)\s*(?:,|$)")
_PARAM = re.compile(rf"\s*;\s*({_TOKEN})(?:\s*=\s*({_VALUE}))?")


def has_server_timing(head: bytes) -> bool:
    """Whether the response's first bytes may carry the header (cheap, may say yes wrongly)."""
    # "timing" in either case covers Server-Timing and server-timing; SERVER-TIMING in
    # capitals is left to chance (no server we know of sends it so).
    return b"iming" in head or b"IMING" in head


def parse_server_timing(head: bytes) -> list[tuple[str, float]]:
    """Every (metric, duration in ms) of the Server-Timing headers in a response head."""
    end = head.find(b"\r\n\r\n")
    if end >= 0:
        head = head[: end + 2]
    out: list[tuple[str, float]] = []
    for header in _HEADER.finditer(head):
        text = header.group(1).decode("latin-1")
        pos = 0
        while pos < len(text):
            metric = _METRIC.match(text, pos)
            if metric is None or metric.end() == pos:
                break  # the rest is malformed: keep what was read so far
            pos = metric.end()
            for param in _PARAM.finditer(metric.group(2)):
                if param.group(1).lower() != "dur":
                    continue
                try:
                    duration = float((param.group(2) or "").strip('"'))
                except ValueError:
                    break
                if duration >= 0 and math.isfinite(duration):
                    out.append((metric.group(1), duration))
                break  # only the first dur counts, as the spec says
    return out
