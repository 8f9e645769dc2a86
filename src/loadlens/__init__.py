"""loadlens: load testing and performance diagnosis for HTTP APIs."""

from loadlens.scenario.model import LoadSpec, RequestSpec, Scenario

__version__ = "0.1.0"

__all__ = ["LoadSpec", "RequestSpec", "Scenario", "__version__"]
