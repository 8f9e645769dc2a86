"""Extraction, checks, data files and auth in scenario files: found wrong at load, with lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadlens.engine.prepared_request import prepare_flows
from loadlens.scenario.file_loader import load_scenario_file
from loadlens.scenario.yaml_source import SourceError

HEAD = "base_url: http://127.0.0.1:9\n"


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + text)
    return load_scenario_file(path)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("requests: [{path: /, extract: {t: {json: 'token'}}}]\n",
         "s.yaml:2: requests[0].extract.t.json: 'token': a JSONPath starts with $"),
        ("requests: [{path: /, extract: {t: {json: '$..['}}}]\n",
         "s.yaml:2: requests[0].extract.t.json: '$..[' is not valid JSONPath"),
        ("requests: [{path: /, extract: {t: {regex: 'a(b'}}}]\n",
         "s.yaml:2: requests[0].extract.t.regex: 'a(b' is not a valid regular expression"),
        ("requests: [{path: /, extract: {t: {regex: 'a(b)', group: 2}}}]\n",
         "s.yaml:2: requests[0].extract.t.group: the regex has 1 groups; there is no group 2"),
        ("requests: [{path: /, extract: {t: {json: $.a, header: X}}}]\n",
         "s.yaml:2: requests[0].extract.t: give exactly one of `json`, `regex`, `header`"),
        ("requests: [{path: /, extract: {9t: {json: $.a}}}]\n",
         "s.yaml:2: requests[0].extract.9t: '9t' cannot be a variable name"),
        ("requests: [{path: /, checks: {staus: 200}}]\n",
         "s.yaml:2: requests[0].checks.staus: unknown key 'staus'; did you mean 'status'?"),
        ("requests: [{path: /, checks: {status: 2yy}}]\n",
         "s.yaml:2: requests[0].checks.status: '2yy': expected a status (200)"),
        ("requests: [{path: /, checks: {status: 700}}]\n",
         "s.yaml:2: requests[0].checks.status: 700-700 is not a range of HTTP statuses"),
        ("requests: [{path: /, checks: {json: [{path: $.a, exists: true, equals: 1}]}}]\n",
         "s.yaml:2: requests[0].checks.json[0]: one test per entry; this one has exists, equals"),
        ("requests: [{path: /, checks: {json: [{path: '$.a', matches: '(('}]}}]\n",
         "s.yaml:2: requests[0].checks.json[0].matches: '((' is not a valid regular expression"),
        ("requests: [{path: /, checks: {body_contains: '{{ nope }}'}}]\n",
         "s.yaml:2: requests[0].checks.body_contains: {{ nope }}: undefined variable"),
        ("requests: [{path: /, auth: {basic: [a]}}]\n", "s.yaml:2: requests[0].auth"),
        ("flows:\n  - name: f\n    steps:\n      - {path: '/{{ id }}'}\n"
         "      - {path: /, extract: {id: {json: $.id}}}\n",
         "s.yaml:5: flows[0].steps[0]: {{ id }} is used before any step extracts it"),
        ("requests:\n  - {path: /, extract: {id: {json: $.id}}}\n  - {path: '/{{ id }}'}\n",
         "s.yaml:4: requests[1]: {{ id }} is used before any step extracts it"),
        ("data: {users: {file: nowhere.csv}}\nrequests: [{path: /}]\n",
         "s.yaml:2: data.users.file: "),
        ("data: {users: {file: u.csv, order: shuffled}}\nrequests: [{path: /}]\n",
         "s.yaml:2: data.users.order: Input should be 'sequential', 'random' or 'unique'"),
        ("defaults: {auth: {bearer: '{{ token }}'}}\n"
         "on_start: [{path: /login, extract: {token: {json: $.token}}}]\n"
         "requests: [{path: /}]\n",
         "s.yaml:3: on_start[0]: {{ token }} is used before any step extracts it"),
    ],
)  # fmt: skip
def test_bad_rules_are_found_at_load_with_file_line_and_key(
    tmp_path: Path, text: str, where: str
) -> None:
    with pytest.raises(SourceError) as caught:
        _load(tmp_path, text)
    assert where in str(caught.value)
    assert str(caught.value).startswith(str(tmp_path / "s.yaml"))


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("", "u.csv", "has no rows"),
        ("a b,c\n1,2\n", "u.csv", "column 'a b' cannot be a variable name"),
        ("a,b\n1,2,3\n", "u.csv", "u.csv:2: the row has a different number of fields"),
        ('{"a": 1}', "u.json", "expected a JSON array of objects"),
        ('[{"a": 1}, {"b": 2}]', "u.json", "row 2 has columns ['b'], not ['a']"),
        ('[{"a": [1]}]', "u.json", "[1] is not a plain value"),
        ("[{", "u.json", "u.json:1: not valid JSON"),
        ("a\n1\n", "u.xlsx", "expected a .csv or .json file"),
    ],
)
def test_bad_data_files_say_what_is_wrong(
    tmp_path: Path, content: str, name: str, message: str
) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(SourceError) as caught:
        _load(tmp_path, f"data: {{users: {{file: {name}}}}}\nrequests: [{{path: /}}]\n")
    assert "s.yaml:2: data.users.file:" in str(caught.value)
    assert message in str(caught.value)


def test_a_full_chain_loads_into_specs(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text("\ufeffname,pass\nada,x\n")  # a spreadsheet's BOM
    scenario = _load(tmp_path, """
data: {users: {file: users.csv, order: unique, on_exhausted: stop}}
defaults: {auth: {bearer: "{{ token }}"}}
on_start:
  - {name: login, method: POST, path: /login, auth: none,
     json: {u: "{{ users.name }}"}, extract: {token: {json: $.token}}}
flows:
  - name: f
    steps:
      - name: list
        path: /items
        extract:
          first: {json: "$.items[0].id"}
          csrf: {regex: 'csrf="([^"]+)"'}
          rid: {header: X-Request-Id}
          sid: {cookie: session}
        checks:
          status: [200, 3xx, 401-403]
          max_latency: 250ms
          body_contains: ok
          headers: {Content-Type: application/json, X-A: {matches: '^a'}}
          json: [$.items, {path: $.n, equals: 3}, {path: $.gone, exists: false}]
      - {name: detail, path: "/items/{{ first }}", auth: {basic: ["{{ users.name }}", pw]}}
""")  # fmt: skip
    from loadlens.scenario.model import Scenario

    assert isinstance(scenario, Scenario)
    assert scenario.on_start is not None
    login = scenario.on_start.steps[0].request
    assert not any(name == "Authorization" for name, _ in login.headers)
    listing = scenario.flows[0].steps[0].request
    assert ("Authorization", "Bearer {{ token }}") in listing.headers
    assert [(e.variable, e.source, e.group) for e in listing.extract] == [
        ("first", "json", 1), ("csrf", "regex", 1), ("rid", "header", 1), ("sid", "cookie", 1),
    ]  # fmt: skip
    assert [c.name for c in listing.checks] == [
        "list: status 200, 3xx, 401-403",
        "list: latency <= 250ms",
        "list: body contains 'ok'",
        "list: Content-Type == 'application/json'",
        "list: X-A matches '^a'",
        "list: $.items exists",
        "list: $.n == 3",
        "list: $.gone is absent",
    ]
    assert listing.checks[0].value == [(200, 200), (300, 399), (401, 403)]
    detail = scenario.flows[0].steps[1].request
    assert detail.basic_auth == ("{{ users.name }}", "pw")
    assert scenario.data[0].rows == ({"name": "ada", "pass": "x"},)
    assert scenario.data[0].on_exhausted == "stop"
    flows, on_start = prepare_flows(scenario, resolve=False)
    assert on_start is not None and flows[0].steps[0].request.rules is not None
    payload = flows[0].steps[1].request.render
    assert payload is not None
    rendered = payload({"users.name": "ada", "first": "7", "token": "t"})
    assert b"GET /items/7 HTTP/1.1\r\n" in rendered
    assert b"Authorization: Basic YWRhOnB3\r\n" in rendered  # base64("ada:pw")


def test_a_quoted_csv_field_keeps_its_line_break(tmp_path: Path) -> None:
    (tmp_path / "u.csv").write_text('name,note\nada,"two\nlines"\n', newline="")
    scenario = _load(tmp_path, "data: {u: {file: u.csv}}\nrequests: [{path: /}]\n")
    assert scenario.data[0].rows == ({"name": "ada", "note": "two\nlines"},)  # type: ignore[attr-defined]


def test_a_url_is_never_taken_for_a_scenario_file() -> None:
    from loadlens.scenario.loading import is_scenario_file

    assert is_scenario_file("flows.py") and is_scenario_file("s.yaml")
    assert not is_scenario_file("http://127.0.0.1:8000/app.py")
