"""`--monitor agent://host:port`: a remote `loadlens agent`'s host and process samples.

`agent://HOST:PORT?tls=1` reads an agent serving HTTPS (`--tls-cert`), checked against the
system's CAs, or `&ca=FILE` for a private CA or a self-signed certificate.
"""

from __future__ import annotations

import json
import ssl
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from loadlens.monitoring.endpoint_reader import ReadLimits, read_endpoint
from loadlens.monitoring.probe import ProbeGone

__all__ = ["AgentClient", "AgentSection"]

_OPTIONS = ("tls", "ca")


class AgentClient:
    """One fetch of /v1/sample a second, shared by the sections that read it."""

    def __init__(self, address: str, token: str, limits: ReadLimits | None = None) -> None:
        parts = urlsplit(f"//{address}")
        options = parse_qs(parts.query)
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown or not parts.hostname:
            raise ProbeGone(f"expected agent://HOST:PORT, then ?tls=1 and &ca=FILE if it "
                            f"serves HTTPS ({', '.join(unknown) or 'no host'}?)")  # fmt: skip
        ca = options.get("ca", [None])[-1]
        self._tls: ssl.SSLContext | None = None
        if options.get("tls", ["0"])[-1] == "1" or ca:
            try:
                self._tls = ssl.create_default_context(cafile=ca)
            except (OSError, ssl.SSLError) as e:
                raise ProbeGone(f"ca={ca}: not a readable CA file ({e})") from None
        self.base = f"{'https' if self._tls else 'http'}://{parts.netloc}"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._limits = limits or ReadLimits()
        self._sample: dict[str, Any] = {}
        self._failure: ProbeGone | None = None
        self._fetched_at = -1.0

    def get(self, path: str) -> dict[str, Any]:
        """GET a JSON document from the agent; ProbeGone when it does not answer right,
        SampleSkipped when its answer is too late or too large."""
        answer = read_endpoint(self.base + path, headers=self._headers, limits=self._limits,
                               tls=self._tls)  # fmt: skip
        if answer.status in (401, 403):
            raise ProbeGone("the token was refused")
        if answer.status != 200:
            raise ProbeGone(f"HTTP {answer.status} from {self.base}{path}")
        try:
            document = json.loads(answer.body)
        except ValueError as e:
            raise ProbeGone(f"not JSON from {self.base}{path} ({e})") from None
        if not isinstance(document, dict):
            raise ProbeGone(f"not a JSON object from {self.base}{path}")
        return document

    def sample(self) -> dict[str, Any]:
        """This second's sample (fetched once however many sections ask)."""
        now = time.monotonic()
        if self._fetched_at < 0 or now - self._fetched_at > 0.5:
            self._fetched_at = now
            # A failure is this second's answer too: the next section must not wait again
            # on an agent that has just taken the whole deadline.
            try:
                self._sample, self._failure = self.get("/v1/sample"), None
            except ProbeGone as e:
                self._failure = e
        if self._failure is not None:
            raise self._failure
        return self._sample


class AgentSection:
    """One part of the agent's samples ("host" or "process") as a probe of its own."""

    def __init__(self, client: AgentClient, section: str, target: str) -> None:
        self._client = client
        self._section = section
        self.name = f"agent {section}" if section == "host" else "target"
        self.kind = section
        self.target = f"{target} (via agent {client.base})"

    def start(self) -> None:
        """The agent keeps its own baselines: take one sample to start the deltas."""
        self._client.sample()

    def sample(self) -> dict[str, Any]:
        """The section of this second's sample."""
        part = dict(self._client.sample().get(self._section, {}))
        if "gone" in part:
            raise ProbeGone(str(part["gone"]))
        return part

    def stop(self) -> None:
        """Nothing to release."""
