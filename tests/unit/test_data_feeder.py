"""Data feeders hand rows out in the order asked, split across workers without overlap."""

from __future__ import annotations

from typing import Any

import pytest

from loadlens.engine.data_feeder import DataExhausted, Feeder
from loadlens.scenario.model import DataSource

ROWS = tuple({"name": f"u{i}"} for i in range(1, 8))


def _source(order: str, on_exhausted: str = "recycle") -> DataSource:
    return DataSource(name="users", file="u.csv", rows=ROWS, order=order,  # type: ignore[arg-type]
                      on_exhausted=on_exhausted)  # type: ignore[arg-type]  # fmt: skip


def _take(feeder: Feeder, n: int, variables: dict[str, Any] | None = None) -> list[str]:
    out = []
    for _ in range(n):
        v = {} if variables is None else variables
        feeder.fill(v)
        out.append(v["users.name"])
    return out


def test_sequential_rows_split_across_workers_and_recycle() -> None:
    first, second = Feeder(_source("sequential"), 0, 2), Feeder(_source("sequential"), 1, 2)
    assert _take(first, 5) == ["u1", "u3", "u5", "u7", "u1"]
    assert _take(second, 4) == ["u2", "u4", "u6", "u2"]


def test_stop_raises_when_the_rows_run_out() -> None:
    feeder = Feeder(_source("sequential", "stop"), 0, 1)
    assert _take(feeder, 7) == [f"u{i}" for i in range(1, 8)]
    with pytest.raises(DataExhausted, match="users"):
        feeder.fill({})


def test_unique_gives_each_user_one_row_for_good() -> None:
    feeder = Feeder(_source("unique", "stop"), 0, 1)
    users = [dict[str, Any]() for _ in range(7)]
    for variables in users:
        for _ in range(3):  # three iterations: the same row each time
            feeder.fill(variables)
    assert [u["users.name"] for u in users] == [f"u{i}" for i in range(1, 8)]
    with pytest.raises(DataExhausted):
        feeder.fill({})  # an eighth user finds no row


def test_random_draws_from_every_row() -> None:
    feeder = Feeder(_source("random"), 1, 4)  # random: every worker sees all rows
    assert set(_take(feeder, 500)) == {f"u{i}" for i in range(1, 8)}


def test_fewer_rows_than_workers_still_feed_every_worker_when_recycling() -> None:
    source = DataSource(name="users", file="u.csv", rows=ROWS[:1])
    assert _take(Feeder(source, 3, 4), 2) == ["u1", "u1"]
