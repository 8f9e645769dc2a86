"""What each load model says of itself: open or closed, and the most users it runs."""

from __future__ import annotations

import pytest

from loadlens.scenario.load import (
    LOAD_MODELS,
    Capacity,
    ConstantArrivalRate,
    ConstantVUs,
    LoadSpec,
    PerVUIterations,
    RampingArrivalRate,
    RampingVUs,
    RateStage,
    VUStage,
    describe_load,
    is_open_executor,
)

MODELS: list[tuple[LoadSpec, bool, int]] = [
    (ConstantVUs(users=7, duration=1), False, 7),
    (RampingVUs(stages=(VUStage(duration=1, target=5), VUStage(duration=1, target=2))), False, 5),
    (PerVUIterations(users=3, iterations=2), False, 3),
    (ConstantArrivalRate(rate=10, duration=1, max_users=40), True, 40),
    (RampingArrivalRate(stages=(RateStage(duration=1, target=9),), max_users=30), True, 30),
    (Capacity(start_rate=1, step_rate=1, step_duration=1, max_users=20), True, 20),
]


@pytest.mark.parametrize(("load", "is_open", "max_users"), MODELS, ids=lambda v: str(v)[:20])
def test_each_model_says_whether_it_is_open_and_its_most_users(
    load: LoadSpec, is_open: bool, max_users: int
) -> None:
    assert load.is_open is is_open
    assert load.max_users == max_users
    assert is_open_executor(load.executor) is is_open
    assert "is_open" not in load.model_dump()  # a class fact, not a setting


def test_the_registry_names_each_model_by_its_executor() -> None:
    assert sorted(LOAD_MODELS) == sorted(load.executor for load, *_ in MODELS)
    for name, model in LOAD_MODELS.items():
        assert model.model_fields["executor"].default == name


def test_an_unknown_executor_is_not_open() -> None:
    assert not is_open_executor("warp-drive")
    assert not is_open_executor(None)


def test_a_stored_load_model_is_described_in_a_few_words() -> None:
    load = ConstantArrivalRate(rate=12.5, duration=30, max_users=100).model_dump()
    assert describe_load(load) == "constant-arrival-rate 12.5/s 30s 100 max users"
    assert describe_load({}) == "?"
