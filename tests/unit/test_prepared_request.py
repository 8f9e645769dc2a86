"""A URL's userinfo is sent as `Authorization: Basic`, as curl and browsers send it, unless
the step sets its own Authorization."""

from __future__ import annotations

import base64

from loadlens.engine.prepared_request import PreparedRequest, locate, prepare
from loadlens.scenario.model import RequestSpec


def _basic(credentials: str) -> bytes:
    return b"Authorization: Basic " + base64.b64encode(credentials.encode())


def _bytes(request: PreparedRequest, variables: dict[str, str] | None = None) -> bytes:
    return request.render(variables or {}) if request.render else request.payload


def _one(url: str, **fields: object) -> bytes:
    spec = RequestSpec.model_validate({"name": "step", "url": url, **fields})
    (request,) = prepare((spec,), timeout=1.0, resolve=False, known={"token", "id"})
    return _bytes(request, {"token": "t0k", "id": "7"})


def test_userinfo_is_sent_as_basic_auth_and_left_out_of_the_request_line_and_host() -> None:
    payload = _one("http://alice:s3cret@127.0.0.1:8080/items?page=2")
    head = payload.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert head[0] == b"GET /items?page=2 HTTP/1.1"
    assert b"Host: 127.0.0.1:8080" in head
    assert head.count(_basic("alice:s3cret")) == 1
    assert b"s3cret" not in payload.replace(_basic("alice:s3cret"), b"")


def test_userinfo_is_percent_decoded_and_a_lone_user_has_an_empty_password() -> None:
    assert _basic("me@corp:p@ss:w") in _one("http://me%40corp:p%40ss%3Aw@h/")
    assert _basic("ghp_abc:") in _one("https://ghp_abc@h/")


def test_a_templated_request_sends_the_userinfo_too() -> None:
    payload = _one("http://u:p@h/items/{{ id }}")
    assert payload.startswith(b"GET /items/7 HTTP/1.1") and _basic("u:p") in payload


def test_a_steps_own_authorization_wins_over_the_userinfo() -> None:
    own = _one("http://u:p@h/", headers=[("authorization", "Bearer {{ token }}")])
    assert b"authorization: Bearer t0k" in own and b"Basic" not in own
    templated = _one("http://u:p@h/", basic_auth=("{{ token }}", "x"))
    assert templated.count(b"Authorization:") == 1 and _basic("t0k:x") in templated


def test_a_url_without_userinfo_sends_no_authorization() -> None:
    payload = _one("http://127.0.0.1:8080/items?token=abc")
    assert b"Authorization" not in payload
    assert locate("http://h/").authorization is None
