"""`--monitor prometheus://HOST:PORT/PATH?series=a,b`: chosen series of a Prometheus text
endpoint (node_exporter, or an app's /metrics), scraped once a second.

Parsing is prometheus_client's. A counter becomes its per-second rate (`NAME_per_s`), a
gauge its value; a series with several label sets is summed over them.
"""

from __future__ import annotations

import ssl
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client.parser import text_string_to_metric_families

from loadlens.monitoring.endpoint_reader import ReadLimits, read_endpoint
from loadlens.monitoring.probe import ProbeGone

__all__ = ["DEFAULT_SERIES", "PrometheusProbe"]

# What most client libraries and node_exporter export, when no series are named.
DEFAULT_SERIES = ("process_cpu_seconds_total", "process_resident_memory_bytes", "node_load1")


class PrometheusProbe:
    """One metrics endpoint."""

    name = "prometheus"
    kind = "prometheus"

    def __init__(self, spec: str, limits: ReadLimits | None = None) -> None:
        parts = urlsplit(spec)
        query = parse_qs(parts.query)
        named = [s for value in query.get("series", []) for s in value.split(",") if s]
        self.series = tuple(named) or DEFAULT_SERIES
        scheme = "https" if query.get("tls") == ["1"] else "http"
        self.url = f"{scheme}://{parts.netloc}{parts.path or '/metrics'}"
        self.target = self.url
        self._limits = limits or ReadLimits()
        # Made once: loading the system's CAs costs milliseconds of CPU, every second.
        self._tls = ssl.create_default_context() if scheme == "https" else None
        self._counters: dict[str, float] = {}
        self._at = 0.0

    def _scrape(self) -> dict[str, tuple[str, float]]:
        """{family: (type, value summed over its label sets)} for the chosen series."""
        answer = read_endpoint(self.url, limits=self._limits, tls=self._tls)
        if answer.status != 200:
            raise ProbeGone(f"unreachable (HTTP {answer.status})")
        text = answer.body.decode("utf-8", "replace")
        wanted = set(self.series)
        out: dict[str, tuple[str, float]] = {}
        try:
            for family in text_string_to_metric_families(text):
                names = {family.name, *(s.name for s in family.samples)}
                if not names & wanted:
                    continue
                # A counter family's samples are NAME_total (and _created): sum NAME_total.
                values = [s.value for s in family.samples if s.name in wanted
                          or (family.type != "counter" and s.name == family.name)]  # fmt: skip
                key = next(iter(names & wanted))
                out[key] = (family.type, float(sum(values)))
        except ValueError as e:
            raise ProbeGone(f"not Prometheus text ({e})") from None
        return out

    def start(self) -> None:
        """A first scrape: the counters' baselines."""
        self._counters = {k: v for k, (t, v) in self._scrape().items() if t == "counter"}
        self._at = time.monotonic()

    def sample(self) -> dict[str, Any]:
        """Gauges as they are, counters as their rate over the last second."""
        now = time.monotonic()
        elapsed = max(now - self._at, 1e-6)
        self._at = now
        out: dict[str, Any] = {}
        for key, (kind, value) in self._scrape().items():
            if kind == "counter":
                before = self._counters.get(key)
                self._counters[key] = value
                if before is not None:
                    out[f"{key}_per_s"] = round(max(value - before, 0.0) / elapsed, 6)
            else:
                out[key] = value
        return out

    def stop(self) -> None:
        """Nothing to release."""
