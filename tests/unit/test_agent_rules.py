"""The agent's judgements on its own settings: a token fit to guard it, and when to warn
that the token would cross a network in clear."""

from __future__ import annotations

import pytest

from loadlens.monitoring.agent_server import MIN_TOKEN_LENGTH, clear_text_warning, token_problem


@pytest.mark.parametrize("token", ["", "x" * (MIN_TOKEN_LENGTH - 1)])
def test_a_short_token_is_refused_with_how_to_make_one(token: str) -> None:
    problem = token_problem(token)
    assert problem is not None and f"at least {MIN_TOKEN_LENGTH} characters" in problem
    assert f"this one has {len(token)}" in problem and "secrets.token_urlsafe(24)" in problem


@pytest.mark.parametrize("token", ["sixteen chars ok", "tab\tin-the-token!", "non-ascii-tökén!!"])
def test_a_token_that_cannot_travel_in_a_header_is_refused(token: str) -> None:
    problem = token_problem(token)
    assert problem is not None and "printable ASCII without spaces" in problem


@pytest.mark.parametrize("token", ["x" * MIN_TOKEN_LENGTH, "Zk3_-9aQ~!@#$%^&*()", "a" * 200])
def test_a_long_printable_token_will_do(token: str) -> None:
    assert token_problem(token) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "::", "2001:db8::1", "agent.example"])
def test_a_token_in_clear_beyond_this_machine_is_warned_of(host: str) -> None:
    warning = clear_text_warning(host, tls=False)
    assert warning is not None and host in warning and "in clear" in warning
    assert "--tls-cert" in warning


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_without_tls_is_not_warned_of(host: str) -> None:
    assert clear_text_warning(host, tls=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "agent.example"])
def test_any_address_with_tls_is_not_warned_of(host: str) -> None:
    assert clear_text_warning(host, tls=True) is None
