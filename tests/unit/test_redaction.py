"""A URL's password never reaches a message."""

from __future__ import annotations

from loadlens.redaction import safe_url


def test_the_password_is_masked_and_the_rest_kept() -> None:
    url = "postgresql+psycopg://app:s3cr@t@db.example:5432/shop"
    assert safe_url(url) == "postgresql+psycopg://app:***@db.example:5432/shop"


def test_a_url_without_credentials_is_unchanged() -> None:
    assert (
        safe_url("sqlite:////home/me/.loadlens/runs.db") == "sqlite:////home/me/.loadlens/runs.db"
    )
    assert safe_url("runs.db") == "runs.db"
