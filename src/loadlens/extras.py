"""Optional parts of loadlens and the pip extra that brings each in, for clear messages."""

from __future__ import annotations

from importlib.util import find_spec

__all__ = ["EXTRA_OF", "install_hint", "missing"]

# Top-level module -> the extra that installs it (pyproject.toml's optional-dependencies).
EXTRA_OF = {
    "psycopg": "postgres",
    "psycopg_pool": "demo",
    "flask": "demo",
    "gunicorn": "demo",
    "cachetools": "demo",
    "starlette": "agent",
    "uvicorn": "agent",
}


def missing(*modules: str) -> list[str]:
    """Which of these modules cannot be imported here."""
    return [name for name in modules if find_spec(name) is None]


def install_hint(module: str) -> str | None:
    """`pip install 'loadlens[demo]'` for a module an extra brings, else None."""
    extra = EXTRA_OF.get(module.partition(".")[0])
    return f"pip install 'loadlens[{extra}]'" if extra else None
