"""Imports point down the layers: a lower package never imports a higher one.

Every `import` in the package counts, at module level or inside a function (a deferred
import is still a dependency). The table is the design (docs/architecture.md): a new
arrow upward fails here, not in review.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "loadlens"

# What each part may import besides itself. The package face (`loadlens`, for its
# __version__), `extras` (which optional libraries are installed), `redaction` (secrets
# out of what is shown and kept), `private_files` (owner-only files, never written
# through a link) and `printable` (control characters shown, not obeyed) are open to all.
ALLOWED: dict[str, set[str]] = {
    "metrics": set(),
    "scenario": {"metrics"},
    "storage": {"metrics", "scenario"},
    "monitoring": {"metrics", "scenario"},
    "analysis": {"metrics", "scenario"},
    "engine": {"metrics", "scenario", "monitoring"},
    "scripting": {"engine", "metrics", "scenario"},
    "reporting": {"metrics", "scenario", "analysis", "storage"},
}
OPEN_TO_ALL = {"__init__", "extras", "printable", "private_files", "redaction"}
# The composition roots wire everything together; nothing below may import them.
ROOTS = {"cli", "demo", "execution", "__main__"}


def _imports() -> dict[str, set[str]]:
    """Each top-level part of the package -> the parts its modules import."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).parts
        part = rel[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                names = module.split(".")
                if names[0] != "loadlens":
                    continue
                target = names[1] if len(names) > 1 else "__init__"
                if target != part:
                    found[part].add(target)
    return found


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_a_layer_imports_only_what_lies_below_it(part: str) -> None:
    upward = _imports().get(part, set()) - ALLOWED[part] - OPEN_TO_ALL
    assert not upward, f"loadlens.{part} imports {sorted(upward)}: an arrow up the layers"


def test_the_engine_never_imports_scripting_analysis_reporting_or_the_roots() -> None:
    engine = _imports()["engine"]
    assert not engine & {"scripting", "analysis", "reporting", "storage", *ROOTS}


def test_no_layer_imports_a_composition_root() -> None:
    for part, targets in _imports().items():
        if part not in ROOTS:
            assert not targets & ROOTS, f"loadlens.{part} imports {sorted(targets & ROOTS)}"


def test_the_table_covers_every_part() -> None:
    parts = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if not p.name.startswith("_")}
    parts.discard("py.typed")
    unlisted = parts - set(ALLOWED) - ROOTS - OPEN_TO_ALL - {"__pycache__", "templates"}
    assert not unlisted, f"add {sorted(unlisted)} to the layer table"


def test_no_module_outgrows_a_read() -> None:
    # A module a newcomer reads in one sitting: past 400 lines, split it along a seam.
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 400
    }
    assert long == {}
