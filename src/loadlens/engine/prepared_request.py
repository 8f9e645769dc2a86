"""Requests encoded to wire bytes once, before the run, so the hot path only writes them."""

from __future__ import annotations

import base64
import re
import socket
import ssl
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from loadlens.engine.request_head import (
    HeadError,
    check_head,
    encode_request,
    head_lines,
    needs_length,
)
from loadlens.engine.response_rules import StepRules
from loadlens.scenario.model import Flow, RequestSpec, Scenario
from loadlens.scenario.templating import Template, TemplateError, compile_template, has_template

__all__ = [
    "HeadError",
    "Location",
    "PrepareError",
    "PreparedFlow",
    "PreparedRequest",
    "PreparedStep",
    "check_head",
    "known_variables",
    "locate",
    "make_ssl_context",
    "prepare",
    "prepare_flows",
    "sets_authorization",
]


class PrepareError(ValueError):
    """A request that cannot be sent as given (unresolvable host, unencodable header)."""


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """A request ready to send: where to connect and the exact bytes to write."""

    index: int
    origin: int  # index of (host, port, tls): users keep one connection per origin
    name: str
    method: str
    url: str
    addresses: tuple[str, ...]  # resolved once, before the run: DNS time is not the target's
    port: int
    server_hostname: str
    tls: bool
    payload: bytes
    is_head: bool
    timeout: float  # seconds for the whole response (the step's own, else the scenario's)
    render: Callable[[MutableMapping[str, Any]], bytes] | None  # templated: bytes per request
    rules: StepRules | None = None  # checks and extraction on the response
    # Copied from `rules`, read per request: keep the response's head, and its body.
    reads_response: bool = False
    keep_body: bool = False


def _encode(spec: RequestSpec, host_header: str, target: str) -> bytes:
    try:
        return encode_request(spec.method, host_header, target, spec.headers, spec.body)
    except UnicodeEncodeError as e:
        raise _not_latin1(spec, e) from None
    except HeadError as e:
        raise PrepareError(f"{spec.name}: {e}") from None


def _not_latin1(spec: RequestSpec, e: UnicodeEncodeError) -> PrepareError:
    bad = e.object[e.start : e.end]
    return PrepareError(
        f"{spec.name}: {bad!r} cannot be sent in a request line or header (HTTP/1.1 "
        "headers are Latin-1; percent-encode URLs, encode header values)"
    )


def _templated(spec: RequestSpec) -> bool:
    return (
        spec.basic_auth is not None
        or has_template(spec.url)
        or any(has_template(v) for _, v in spec.headers)
        or (spec.body is not None and b"{{" in spec.body)
    )


def _basic(user: Template, password: Template) -> Callable[[MutableMapping[str, Any]], str]:
    def render(variables: MutableMapping[str, Any]) -> str:
        credentials = f"{user.render(variables)}:{password.render(variables)}"
        return "Basic " + base64.b64encode(credentials.encode()).decode()

    return render


_MARK = re.compile("\x00([0-9]+)\x00")


def _renderer(
    spec: RequestSpec, host_header: str, target: str, known: Iterable[str]
) -> Callable[[MutableMapping[str, Any]], bytes]:
    """Compile the request once into literal text and holes; the result renders its bytes.

    The head is laid out once (request line, default headers, the user's headers) with a
    marker where each template goes, then cut at the markers: a request costs only its
    holes and one join, not re-assembling every header.
    """
    holes: list[Callable[[MutableMapping[str, Any]], str]] = []

    def hole(template: Template) -> str:
        text = []
        for piece in template.pieces():
            if isinstance(piece, str):
                text.append(piece)
            else:
                holes.append(piece)
                text.append(f"\x00{len(holes) - 1}\x00")
        return "".join(text)

    try:
        target_text = hole(compile_template(target, known, "url"))
        headers = [(n, hole(compile_template(v, known, "header"))) for n, v in spec.headers]
        if spec.basic_auth is not None:
            user, password = (compile_template(part, known) for part in spec.basic_auth)
            holes.append(_basic(user, password))
            headers.append(("Authorization", f"\x00{len(holes) - 1}\x00"))
        body_t = (
            compile_template(spec.body.decode(), known, spec.body_kind)
            if spec.body is not None
            else None
        )
        # (Values filled in per request are escaped for where they go: URL-quoted, or
        # line breaks blanked in a header; the literal text is checked once, here.)
        check_head(spec.method, _MARK.sub("", target_text), [])
    except TemplateError as e:
        raise PrepareError(f"{spec.name}: {e}") from None
    except HeadError as e:
        raise PrepareError(f"{spec.name}: {e}") from None
    lines = head_lines(spec.method, host_header, target_text, headers)
    static_body = body_t is None or body_t.is_static
    if static_body and needs_length(spec.method, spec.headers, spec.body):
        lines.append(f"Content-Length: {len(spec.body or b'')}")
    cut = _MARK.split("\r\n".join(lines) + "\r\n")
    # Odd positions of `cut` are hole numbers, even ones literal text: each request copies
    # the literal list and fills in its holes.
    literal = [part if i % 2 == 0 else "" for i, part in enumerate(cut)]
    fill = [(i, holes[int(part)]) for i, part in enumerate(cut) if i % 2]
    try:
        "".join(literal).encode("latin-1")  # fail now, not per request
    except UnicodeEncodeError as e:
        raise _not_latin1(spec, e) from None
    dynamic_length = not static_body and needs_length(spec.method, spec.headers, b"x")
    fixed_body = spec.body or b""

    def render(variables: MutableMapping[str, Any]) -> bytes:
        out = literal.copy()
        for i, function in fill:
            out[i] = function(variables)
        head = "".join(out)
        if static_body:
            body = fixed_body
        else:
            assert body_t is not None
            body = body_t.render(variables).encode()
            if dynamic_length:
                head += f"Content-Length: {len(body)}\r\n"
        try:
            return head.encode("latin-1") + b"\r\n" + body
        except UnicodeEncodeError:
            # A value from a response or a data file that Latin-1 cannot spell: send its
            # UTF-8 bytes, as browsers and curl do, rather than fail the request.
            return head.encode() + b"\r\n" + body

    return render


@dataclass(frozen=True, slots=True)
class Location:
    """Where a URL's request goes, and how its request line and Host header name it."""

    hostname: str
    port: int
    tls: bool
    host_header: str  # the port only when it is not the scheme's own; IPv6 in brackets
    target: str  # path and query, as the request line carries them
    # `Basic ...` for the URL's userinfo (`https://user:pass@host`), as curl and browsers
    # send it; None without userinfo.
    authorization: str | None = None


def locate(url: str) -> Location:
    """Split an http(s) URL into what connecting and encoding its request need."""
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    hostname = parts.hostname or ""
    port = parts.port or (443 if tls else 80)
    default_port = port == (443 if tls else 80)
    host = f"[{hostname}]" if ":" in hostname else hostname  # an IPv6 literal
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    authorization = None
    if parts.username is not None:
        # Percent-decoded (`p%40ss` is `p@ss`) and UTF-8, as curl sends them (RFC 7617).
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(credentials.encode()).decode()
    return Location(
        hostname, port, tls, host if default_port else f"{host}:{port}", target, authorization
    )


def sets_authorization(headers: Iterable[tuple[str, str]]) -> bool:
    """Whether the headers have their own Authorization (which beats a URL's userinfo)."""
    return any(name.lower() == "authorization" for name, _ in headers)


def prepare(
    specs: tuple[RequestSpec, ...],
    *,
    timeout: float,
    resolve: bool = True,
    known: Iterable[str] = (),
    check_index: dict[str, int] | None = None,
) -> list[PreparedRequest]:
    """Encode each request and resolve its host once (DNS per request would be measured).

    Requests sharing a name share a stats index (the first such request's position among
    the distinct names): a name groups stats, so `/users/1` and `/users/2` can be one.
    """
    resolved: dict[tuple[str, int], tuple[str, ...]] = {}
    origins: dict[tuple[str, int, bool], int] = {}
    stats_index: dict[str, int] = {}
    endpoints = []
    known = set(known)
    for spec in specs:
        index = stats_index.setdefault(spec.name, len(stats_index))
        where = locate(spec.url)
        hostname, port, tls = where.hostname, where.port, where.tls
        host_header, target = where.host_header, where.target
        addresses: tuple[str, ...] = (hostname,)
        if resolve:
            key = (hostname, port)
            if key not in resolved:
                try:
                    infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
                except (socket.gaierror, UnicodeError) as e:
                    raise PrepareError(f"{spec.url}: cannot resolve {hostname!r} ({e})") from None
                resolved[key] = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
            addresses = resolved[key]
        origin = origins.setdefault((hostname, port, tls), len(origins))
        if where.authorization and spec.basic_auth is None and not sets_authorization(spec.headers):
            # Base64 has no `{{`: the header is literal text to the templates as well.
            headers = (*spec.headers, ("Authorization", where.authorization))
            spec = spec.model_copy(update={"headers": headers})
        payload = b"" if _templated(spec) else _encode(spec, host_header, target)
        render = _renderer(spec, host_header, target, known) if _templated(spec) else None
        rules = (
            StepRules(spec.extract, spec.checks, check_index or {}, known)
            if spec.extract or spec.checks
            else None
        )
        endpoints.append(
            PreparedRequest(
                index=index,
                origin=origin,
                name=spec.name,
                method=spec.method,
                url=spec.url,
                addresses=addresses,
                port=port,
                server_hostname=hostname,
                tls=tls,
                payload=payload,
                is_head=spec.method == "HEAD",
                timeout=spec.timeout or timeout,
                render=render,
                rules=rules,
                reads_response=rules is not None and rules.reads_response,
                keep_body=rules is not None and rules.keep_body,
            )
        )
    return endpoints


def make_ssl_context(insecure: bool) -> ssl.SSLContext:
    """A client TLS context: verification on unless the user said --insecure."""
    ctx = ssl.create_default_context()
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass(frozen=True, slots=True)
class PreparedStep:
    """A flow step ready to run: its request and the pause after it (low, high seconds)."""

    request: PreparedRequest
    think: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class PreparedFlow:
    """A flow ready to run."""

    name: str
    weight: float
    steps: tuple[PreparedStep, ...]
    pacing: float | None

    @property
    def is_single_request(self) -> bool:
        """One step, no pause, no pacing: the engine's fastest path."""
        return len(self.steps) == 1 and self.steps[0].think is None and self.pacing is None


def known_variables(scenario: Scenario) -> set[str]:
    """Every variable a template may use: defined, extracted or from a data file.

    (The file loader checks that a step only uses what is defined by the time it runs.)
    """
    known = set(scenario.variables)
    known.update(e.variable for r in scenario.requests for e in r.extract)
    known.update(column for source in scenario.data for column in source.columns)
    return known


def prepare_flows(
    scenario: Scenario, *, resolve: bool = True
) -> tuple[list[PreparedFlow], PreparedFlow | None]:
    """Every flow (and the on_start steps) with requests encoded and hosts resolved."""
    endpoints = iter(
        prepare(
            scenario.requests,
            timeout=scenario.timeout,
            resolve=resolve,
            known=known_variables(scenario),
            check_index={name: i for i, name in enumerate(scenario.checks)},
        )
    )

    def prepared(flow: Flow) -> PreparedFlow:
        steps = tuple(
            PreparedStep(
                next(endpoints),
                (step.think_time.low, step.think_time.high) if step.think_time else None,
            )
            for step in flow.steps
        )
        return PreparedFlow(flow.name, flow.weight, steps, flow.pacing)

    # The order of Scenario.requests: on_start's steps first.
    on_start = prepared(scenario.on_start) if scenario.on_start is not None else None
    return [prepared(flow) for flow in scenario.flows], on_start
