"""The public API is small and deliberate."""

from __future__ import annotations

import loadlens


def test_public_names() -> None:
    assert sorted(loadlens.__all__) == ["LoadSpec", "RequestSpec", "Scenario", "__version__"]
    for name in loadlens.__all__:
        assert hasattr(loadlens, name)
