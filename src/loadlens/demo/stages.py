"""The case study's stages: the slow API, then one fix at a time, as in the article."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STAGES", "Stage", "stage_named"]


@dataclass(frozen=True, slots=True)
class Stage:
    """One version of the demo API: what it does, and what changed from the one before."""

    name: str
    title: str
    change: str  # what this stage fixed, in a line
    index: bool = False  # users(last_login) is indexed
    pooled: bool = False  # a connection pool, a parameterised query, the needed columns only
    cache: bool = False  # responses cached 300 s by query string
    instances: int = 1  # behind nginx when more than one


STAGES: tuple[Stage, ...] = (
    Stage("baseline", "Baseline",
          "the slow API: no index on last_login, SELECT * with every row turned into a dict, "
          "a new database connection per request, no cache, one instance"),
    Stage("index", "Index", "CREATE INDEX on users (last_login)", index=True),
    Stage("pool", "Pool and query",
          "a connection pool, a parameterised query, only the needed columns, paging in SQL",
          index=True, pooled=True),
    Stage("cache", "Cache", "responses cached for 300 s, keyed by query string",
          index=True, pooled=True, cache=True),
    Stage("balanced", "Load balanced", "three instances behind nginx (least_conn upstream)",
          index=True, pooled=True, cache=True, instances=3),
)  # fmt: skip


def stage_named(name: str) -> Stage:
    """The stage called `name`."""
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise KeyError(name)
