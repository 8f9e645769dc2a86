"""Python scenarios: `async def` flows on the engine's virtual users (see docs/scenarios.md)."""

from loadlens.scripting.api import Response, flow, on_start
from loadlens.scripting.session import Session

__all__ = ["Response", "Session", "flow", "on_start"]
