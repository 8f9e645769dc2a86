"""`--monitor agent://host:port`: a remote `loadlens agent`'s host and process samples."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from loadlens.monitoring.probe import ProbeGone

__all__ = ["AgentClient", "AgentSection"]


class AgentClient:
    """One fetch of /v1/sample a second, shared by the sections that read it."""

    def __init__(self, address: str, token: str, timeout: float = 0.8) -> None:
        self.base = f"http://{address}"
        self._token = token
        self._timeout = timeout
        self._sample: dict[str, Any] = {}
        self._fetched_at = 0.0

    def get(self, path: str) -> dict[str, Any]:
        """GET a JSON document from the agent; ProbeGone when it does not answer right."""
        request = urllib.request.Request(
            self.base + path, headers={"Authorization": f"Bearer {self._token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as e:
            reason = "the token was refused" if e.code == 401 else f"HTTP {e.code}"
            raise ProbeGone(f"agent {self.base}: {reason}") from None
        except (OSError, ValueError) as e:
            raise ProbeGone(f"agent {self.base} unreachable ({e})") from None

    def sample(self) -> dict[str, Any]:
        """This second's sample (fetched once however many sections ask)."""
        now = time.monotonic()
        if now - self._fetched_at > 0.5:
            self._sample = self.get("/v1/sample")
            self._fetched_at = now
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
