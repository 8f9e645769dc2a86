"""loadlens: load testing and performance diagnosis for HTTP APIs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loadlens.scenario.model import LoadSpec, RequestSpec, Scenario

__version__ = "0.1.0"

__all__ = ["LoadSpec", "RequestSpec", "Scenario", "__version__"]

_MODEL_NAMES = frozenset({"LoadSpec", "RequestSpec", "Scenario"})


def __getattr__(name: str) -> Any:
    """The scenario model's public names, imported on first use (PEP 562)."""
    # Lazy because the model loads pydantic (~0.3 s) and `loadlens --help` should not wait.
    if name in _MODEL_NAMES:
        from loadlens.scenario import model

        value = getattr(model, name)
        globals()[name] = value  # once imported, a plain attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
