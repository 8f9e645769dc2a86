"""Load models, one per module, and the registry that names them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from loadlens.engine.executors import (
    capacity,
    constant_arrival_rate,
    constant_vus,
    per_vu_iterations,
    ramping_arrival_rate,
    ramping_vus,
)
from loadlens.engine.executors.base import ExecutorContext

__all__ = ["EXECUTORS"]

EXECUTORS: dict[str, Callable[[Any, ExecutorContext], Awaitable[None]]] = {
    "constant-vus": constant_vus.run,
    "ramping-vus": ramping_vus.run,
    "constant-arrival-rate": constant_arrival_rate.run,
    "ramping-arrival-rate": ramping_arrival_rate.run,
    "per-vu-iterations": per_vu_iterations.run,
    "capacity": capacity.run,
}
