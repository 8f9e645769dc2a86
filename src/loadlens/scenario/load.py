"""Load models (executors) as validated, frozen settings: one class per model."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "LOAD_MODELS",
    "Capacity",
    "ConstantArrivalRate",
    "ConstantVUs",
    "LoadModel",
    "LoadSpec",
    "PerVUIterations",
    "RampingArrivalRate",
    "RampingVUs",
    "RateStage",
    "VUStage",
    "describe_load",
    "is_open_executor",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VUStage(_Frozen):
    """Move linearly to `target` users over `duration` seconds."""

    duration: float = Field(ge=0)
    target: int = Field(ge=0)


class RateStage(_Frozen):
    """Move linearly to `target` arrivals per second over `duration` seconds."""

    duration: float = Field(ge=0)
    target: float = Field(ge=0)


class LoadModel(_Frozen):
    """What every load model says of itself besides its settings."""

    # Open models start iterations on a schedule, whatever the target's latency; closed
    # ones start the next iteration when a user's last one ends.
    is_open: ClassVar[bool] = False


class ConstantVUs(LoadModel):
    """Closed model: a fixed number of users loop for a fixed time."""

    executor: Literal["constant-vus"] = "constant-vus"
    users: int = Field(ge=1)
    duration: float = Field(gt=0)

    @property
    def total_duration(self) -> float:
        """How long the model runs, in seconds."""
        return self.duration

    @property
    def max_users(self) -> int:
        """The most users the model runs at once."""
        return self.users


class RampingVUs(LoadModel):
    """Closed model: the number of users follows linear stages."""

    executor: Literal["ramping-vus"] = "ramping-vus"
    start_users: int = Field(default=0, ge=0)
    stages: tuple[VUStage, ...] = Field(min_length=1)

    @property
    def total_duration(self) -> float:
        """How long the model runs, in seconds."""
        return sum(s.duration for s in self.stages)

    @property
    def max_users(self) -> int:
        """The most users the model runs at once: the most any stage reaches."""
        return max([self.start_users, *(s.target for s in self.stages)])


class ConstantArrivalRate(LoadModel):
    """Open model: iterations start at a fixed rate, whatever the target's latency."""

    is_open: ClassVar[bool] = True
    executor: Literal["constant-arrival-rate"] = "constant-arrival-rate"
    rate: float = Field(gt=0)
    duration: float = Field(gt=0)
    max_users: int = Field(ge=1)  # the most users in flight; an arrival beyond is dropped

    @property
    def total_duration(self) -> float:
        """How long the model runs, in seconds."""
        return self.duration


class RampingArrivalRate(LoadModel):
    """Open model: the arrival rate follows linear stages."""

    is_open: ClassVar[bool] = True
    executor: Literal["ramping-arrival-rate"] = "ramping-arrival-rate"
    start_rate: float = Field(default=0, ge=0)
    stages: tuple[RateStage, ...] = Field(min_length=1)
    max_users: int = Field(ge=1)  # the most users in flight; an arrival beyond is dropped

    @property
    def total_duration(self) -> float:
        """How long the model runs, in seconds."""
        return sum(s.duration for s in self.stages)


class PerVUIterations(LoadModel):
    """Closed model: each user runs a fixed number of iterations, then stops."""

    executor: Literal["per-vu-iterations"] = "per-vu-iterations"
    users: int = Field(ge=1)
    iterations: int = Field(ge=1)
    max_duration: float = Field(default=600.0, gt=0)

    @property
    def total_duration(self) -> float:
        """The longest the model may run, in seconds."""
        return self.max_duration

    @property
    def max_users(self) -> int:
        """The most users the model runs at once."""
        return self.users


class Capacity(LoadModel):
    """Open, stepped model: raise the rate step by step until the SLO breaks."""

    is_open: ClassVar[bool] = True
    executor: Literal["capacity"] = "capacity"
    start_rate: float = Field(gt=0)
    step_rate: float = Field(gt=0)
    step_duration: float = Field(gt=0)
    max_steps: int = Field(default=20, ge=1)
    slo_p95_ms: float = Field(default=100.0, gt=0)
    slo_error_rate: float = Field(default=0.01, ge=0, le=1)
    max_users: int = Field(ge=1)  # the most users in flight; an arrival beyond is dropped

    @property
    def total_duration(self) -> float:
        """The longest the model may run, in seconds (every step held)."""
        return self.step_duration * self.max_steps

    def rate_of_step(self, step: int) -> float:
        """The arrival rate of step `step` (0-based)."""
        return self.start_rate + step * self.step_rate


LoadSpec = Annotated[
    ConstantVUs
    | RampingVUs
    | ConstantArrivalRate
    | RampingArrivalRate
    | PerVUIterations
    | Capacity,
    Field(discriminator="executor"),
]

# The registry of load models by executor name: a new model is a new class and one entry.
LOAD_MODELS: dict[str, type[LoadModel]] = {
    "constant-vus": ConstantVUs,
    "ramping-vus": RampingVUs,
    "constant-arrival-rate": ConstantArrivalRate,
    "ramping-arrival-rate": RampingArrivalRate,
    "per-vu-iterations": PerVUIterations,
    "capacity": Capacity,
}


def is_open_executor(executor: object) -> bool:
    """Whether an executor name (a stored run's `load["executor"]`) is an open model."""
    model = LOAD_MODELS.get(str(executor))
    return model is not None and model.is_open


def describe_load(load: dict[str, Any]) -> str:
    """A stored load model in a few words: `constant-vus 50 users 30s`."""
    executor = str(load.get("executor", "?"))
    parts = [executor]
    for key, unit in (("users", " users"), ("rate", "/s"), ("iterations", " iterations"),
                      ("duration", "s"), ("max_users", " max users")):  # fmt: skip
        value = load.get(key)
        if value is not None:
            parts.append(f"{value:g}{unit}" if isinstance(value, float) else f"{value}{unit}")
    return " ".join(parts)
