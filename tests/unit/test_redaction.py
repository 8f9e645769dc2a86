"""Secrets are masked in what loadlens shows and keeps; everything else is left as written."""

from __future__ import annotations

import pytest

from loadlens.redaction import SECRET_PARAMS, Redactor, check_param_name, safe_url

redact = Redactor().text


def test_the_password_is_masked_and_the_rest_kept() -> None:
    url = "postgresql+psycopg://app:s3cr@t@db.example:5432/shop"
    assert safe_url(url) == "postgresql+psycopg://app:***@db.example:5432/shop"


def test_a_url_without_credentials_is_unchanged() -> None:
    assert (
        safe_url("sqlite:////home/me/.loadlens/runs.db") == "sqlite:////home/me/.loadlens/runs.db"
    )
    assert safe_url("runs.db") == "runs.db"
    assert safe_url("https://api.example/v1/items?page=2&sort=name") == (
        "https://api.example/v1/items?page=2&sort=name"
    )


def test_a_query_password_is_masked_by_safe_url() -> None:
    assert safe_url("https://h/login?user=bob&password=hunter2") == (
        "https://h/login?user=bob&password=***"
    )


def test_a_user_without_a_password_is_taken_for_a_token() -> None:
    assert redact("https://ghp_abc123@github.com/o/r") == "https://***@github.com/o/r"


def test_userinfo_is_masked_inside_text_and_an_email_address_is_not() -> None:
    text = "GET https://alice:pw@127.0.0.1:8080/x failed; write to alice@example.com"
    assert redact(text) == (
        "GET https://alice:***@127.0.0.1:8080/x failed; write to alice@example.com"
    )


@pytest.mark.parametrize(
    "key",
    ["token", "access_token", "password", "passwd", "pwd", "key", "api_key", "apikey",
     "secret", "signature", "sig", "auth", "TOKEN", "Api_Key", "api%5Fkey"],
)  # fmt: skip
def test_a_secret_query_value_is_masked(key: str) -> None:
    text = f"GET /search?page=2&{key}=abc%2F123&sort=asc"
    assert redact(text) == f"GET /search?page=2&{key}=***&sort=asc"


@pytest.mark.parametrize("key", ["page", "sort", "tokens", "monkey", "keyword", "q"])
def test_a_query_value_under_another_key_is_kept(key: str) -> None:
    text = f"https://h/search?{key}=abc&x=1"
    assert redact(text) == text


def test_secrets_in_a_fragment_are_masked_too() -> None:
    assert (
        redact("https://h/cb#access_token=xyz&state=1") == "https://h/cb#access_token=***&state=1"
    )


def test_a_value_that_is_only_a_template_names_a_variable_and_is_kept() -> None:
    assert redact("GET /me?token={{ token }}&page=1") == "GET /me?token={{ token }}&page=1"
    assert redact("GET /me?token=abc{{ n }}") == "GET /me?token=***"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Authorization: Bearer abc.def", "Authorization: ***"),
        ("proxy-authorization: Basic dTpw", "proxy-authorization: ***"),
        ("Cookie: sid=1; theme=dark", "Cookie: ***"),
        ("Set-Cookie: sid=1; HttpOnly", "Set-Cookie: ***"),
        ("{'Authorization': 'Bearer x', 'Accept': 'a'}", "{'Authorization': '***', 'Accept': 'a'}"),
        ('{"cookie": "sid=1", "x": 2}', '{"cookie": "***", "x": 2}'),
    ],
)  # fmt: skip
def test_auth_and_cookie_header_values_are_masked_in_text(text: str, shown: str) -> None:
    assert redact(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "the authorization failed",
        "X-Request-Id: 5",
        "Accept: application/json",
        "no cookies were set",
        "Authorization: ***",
    ],
)
def test_text_without_a_header_secret_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_masking_twice_changes_nothing_more() -> None:
    text = "GET https://u:p@h/?token=t Authorization: Bearer b"
    once = redact(text)
    assert redact(once) == once
    assert "p@" not in once and "token=t" not in once and "Bearer" not in once


def test_more_keys_can_be_named_secret() -> None:
    text = "GET /a?session=s1&page=2"
    assert redact(text) == text
    assert Redactor.with_params(["session"]).text(text) == "GET /a?session=***&page=2"
    assert Redactor.with_params(["Session"]).params == SECRET_PARAMS | {"session"}


@pytest.mark.parametrize("name", ["", " ", "a=b", "a&b", "a b", "x?y"])
def test_a_name_that_cannot_be_a_query_key_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="is not a query parameter name"):
        check_param_name(name)
    assert check_param_name("session_id") == "session_id"


def test_a_document_is_masked_in_keys_and_values_and_its_numbers_kept() -> None:
    document = {
        "name": "GET https://u:pw@h/?token=t",
        "histograms": {"GET https://u:pw@h/?token=t": "HIST=="},
        "series": [{"t": 1, "rps": 2.5, "note": "Cookie: a=b"}],
        "ok": True,
    }
    assert Redactor().document(document) == {
        "name": "GET https://u:***@h/?token=***",
        "histograms": {"GET https://u:***@h/?token=***": "HIST=="},
        "series": [{"t": 1, "rps": 2.5, "note": "Cookie: ***"}],
        "ok": True,
    }


def test_header_pairs_keep_their_names_and_lose_secret_values() -> None:
    headers = [("Authorization", "Bearer x"), ("Accept", "*/*"), ("cookie", "a=b")]
    assert Redactor().headers(headers) == [
        ("Authorization", "***"),
        ("Accept", "*/*"),
        ("cookie", "***"),
    ]
