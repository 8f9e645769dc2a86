"""What steps do with responses: JSONPath, captured heads, checks, extraction, cookies."""

from __future__ import annotations

from typing import Any

import pytest

from loadlens.engine.cookie_jar import CookieJar
from loadlens.engine.http_connection import HttpConnection
from loadlens.engine.request_errors import RequestFailed
from loadlens.engine.response_capture import ResponseCapture
from loadlens.engine.response_rules import Extraction, StepRules
from loadlens.scenario.json_path import MISSING, JsonPathError, compile_json_path
from loadlens.scenario.model import DEFAULT_MAX_BODY, CheckSpec, ExtractSpec
from support.fake_transport import FakeNetworkLoop, FakeTransport

DOC = {"token": "t", "items": [{"id": 3, "on": True}, {"id": 5, "on": False}], "n": None}


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("$.token", "t"),
        ("$.items[0].id", 3),
        ("$.items[-1].id", 5),
        ("$['token']", "t"),
        ("$.n", None),
        ("$.items[2].id", MISSING),
        ("$.token[0]", MISSING),  # no indexing into strings
        ("$.items.id", MISSING),  # no name on an array
        ("$.items[*].id", 3),  # full JSONPath: the first match
        ("$.items[?(@.on == false)].id", 5),
    ],
)
def test_json_paths_find_the_first_match(path: str, found: Any) -> None:
    assert compile_json_path(path)(DOC) is found or compile_json_path(path)(DOC) == found


def test_plain_chains_skip_jsonpath_ng() -> None:
    assert compile_json_path("$.items[0].id").__qualname__.startswith("_walk")
    assert compile_json_path("$.items[*].id").__qualname__.startswith("compile_json_path")
    with pytest.raises(JsonPathError):
        compile_json_path("items[0]")


def _capture(
    *chunks: bytes, keep_body: bool = True, max_body: int = DEFAULT_MAX_BODY
) -> ResponseCapture:
    """A capture filled as a connection fills it, from a response read in `chunks`."""
    loop = FakeNetworkLoop()
    try:
        conn = HttpConnection(loop)
        server = FakeTransport(loop, conn)
        capture = ResponseCapture(keep_body, max_body)
        outcomes: list[tuple[int, RequestFailed | None]] = []
        conn.send(b"GET / HTTP/1.1\r\n\r\n", False, lambda _c, s, f: outcomes.append((s, f)),
                  10.0, capture)  # fmt: skip
        server.feed(*chunks)
    finally:
        loop.close()
    assert len(outcomes) == 1 and outcomes[0][1] is None, outcomes
    return capture


RESPONSE = (
    b"HTTP/1.1 100 Continue\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: r-1\r\n"
    b"Set-Cookie: session=abc; Path=/; HttpOnly\r\nset-cookie: theme=dark\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
    b'5\r\n{"tok\r\n9\r\nen": "t"}\r\n0\r\n\r\n'
)


@pytest.mark.parametrize("split", [1, 7, 40, 90, len(RESPONSE)])
def test_the_head_and_body_are_kept_however_the_bytes_arrive(split: int) -> None:
    capture = _capture(*(RESPONSE[i : i + split] for i in range(0, len(RESPONSE), split)))
    assert capture.raw_head.startswith(b"HTTP/1.1 200 OK\r\n")  # the 100 Continue dropped
    assert capture.header(b"x-request-id") == b"r-1"
    assert capture.all_headers(b"set-cookie") == [b"session=abc; Path=/; HttpOnly", b"theme=dark"]
    assert capture.sets_cookies
    assert capture.json() == {"token": "t"}


def test_a_huge_body_is_cut_not_kept_whole() -> None:
    size = DEFAULT_MAX_BODY + 1000
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size
    capture = _capture(head, b"x" * (size // 2), b"x" * (size - size // 2))
    assert capture.truncated and len(capture.body) == DEFAULT_MAX_BODY
    assert capture.body_size == size
    with pytest.raises(ValueError, match="cut at"):
        capture.json()


def _rules(*checks: CheckSpec, extract: tuple[ExtractSpec, ...] = ()) -> StepRules:
    return StepRules(extract, checks, {c.name: i for i, c in enumerate(checks)}, known={"me"})


def _judge(rules: StepRules, capture: ResponseCapture | None, status: int = 200) -> list[bool]:
    return [c.test(capture, status, 50_000_000, {"me": "t"}) for c in rules.checks]


def test_checks_judge_status_latency_body_headers_and_json() -> None:
    capture = _capture(RESPONSE)
    rules = _rules(
        CheckSpec(name="a", kind="status", value=[(200, 299)]),
        CheckSpec(name="b", kind="status", value=[(201, 201)]),
        CheckSpec(name="c", kind="max-latency", value=50.0),
        CheckSpec(name="d", kind="max-latency", value=49.9),
        CheckSpec(name="e", kind="body-contains", value="en"),
        CheckSpec(name="f", kind="body-matches", value=r'"t"\}$'),
        CheckSpec(name="g", kind="header-equals", target="X-Request-ID", value="r-1"),
        CheckSpec(name="h", kind="header-contains", target="content-type", value="json"),
        CheckSpec(name="i", kind="header-matches", target="x-missing", value=".*"),
        CheckSpec(name="j", kind="json-exists", target="$.token", value=True),
        CheckSpec(name="k", kind="json-exists", target="$.nope", value=False),
        CheckSpec(name="l", kind="json-equals", target="$.token", value="{{ me }}"),
        CheckSpec(name="m", kind="json-matches", target="$.token", value="^t$"),
    )
    assert _judge(rules, capture) == [True, False, True, False, True, True, True, True, False,
                                      True, True, True, True]  # fmt: skip
    assert rules.judges_status and rules.reads_response and rules.keep_body
    # Checks that look inside the response fail without one.
    assert _judge(rules, None)[4:] == [False] * 9
    # Status and latency need no capture (the virtual user fails every check of a request
    # that got no response at all, without asking them).
    light = _rules(CheckSpec(name="a", kind="status", value=[(200, 200)]))
    assert not light.reads_response and _judge(light, None) == [True]


def test_json_equals_keeps_json_types_apart() -> None:
    body = b'{"one":1,"yes":true}'
    capture = _capture(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    rules = _rules(
        CheckSpec(name="a", kind="json-equals", target="$.one", value=1),
        CheckSpec(name="b", kind="json-equals", target="$.one", value=True),
        CheckSpec(name="c", kind="json-equals", target="$.yes", value=True),
        CheckSpec(name="d", kind="json-equals", target="$.yes", value=1),
    )
    assert _judge(rules, capture) == [True, False, True, False]


def test_extractions_set_text_variables_or_report_missing() -> None:
    capture = _capture(RESPONSE)
    variables: dict[str, Any] = {}
    specs = [
        ExtractSpec(variable="tok", source="json", expression="$.token"),
        ExtractSpec(variable="whole", source="json", expression="$"),
        ExtractSpec(variable="rid", source="header", expression="X-Request-Id"),
        ExtractSpec(variable="sid", source="cookie", expression="session"),
        ExtractSpec(variable="part", source="regex", expression=r'"(t)"', group=1),
        ExtractSpec(variable="gone", source="cookie", expression="nope"),
    ]
    results = [Extraction(spec).apply(capture, variables) for spec in specs]
    assert results == [True, True, True, True, True, False]
    assert variables == {"tok": "t", "whole": '{"token":"t"}', "rid": "r-1", "sid": "abc",
                         "part": "t"}  # fmt: skip


def test_the_cookie_jar_keeps_replaces_and_expires() -> None:
    jar = CookieJar()
    assert jar.header(0) == b""
    jar.update(0, [b"a=1; Path=/", b"b=2"])
    assert jar.header(0) == b"Cookie: a=1; b=2\r\n"
    jar.update(0, [b"a=3", b"b=; Max-Age=0"])
    assert jar.header(0) == b"Cookie: a=3\r\n"
    jar.update(0, [b"a=4; Expires=Thu, 01 Jan 1970 00:00:00 GMT"])
    assert jar.header(0) == b""
    jar.update(1, [b"c=5; Expires=Fri, 01 Jan 2100 00:00:00 GMT", b"junk", b"=x"])
    assert jar.header(1) == b"Cookie: c=5\r\n" and jar.get(1, "c") == "5"


def test_max_age_wins_over_expires() -> None:
    jar = CookieJar()
    jar.update(0, [b"a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60"])
    assert jar.get(0, "a") == "1"
    jar.update(0, [b"a=1; Max-Age=0; Expires=Fri, 01 Jan 2100 00:00:00 GMT"])
    assert jar.get(0, "a") is None
