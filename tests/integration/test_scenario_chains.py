"""Chained scenarios against a real app: login, token, list, detail, form post.

The app (tests/support/shop_app.py, Starlette on uvicorn) rejects requests without a valid
token, so a chain that works for every user shows up in its own counters as zero 401s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import LoadlensRunner, check_result
from support.shop_app import ShopApp, running_shop

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]


@pytest.fixture
def shop() -> Iterator[tuple[ShopApp, str]]:
    """The shop app on 127.0.0.1, fresh for each test."""
    with running_shop() as served:
        yield served


def _users_csv(tmp_path: Path, names: list[str], bad: frozenset[str] = frozenset()) -> None:
    lines = ["username,password"]
    lines += [f"{n},{'wrong' if n in bad else 'pw-' + n}" for n in names]
    (tmp_path / "users.csv").write_text("\n".join(lines) + "\n")


def _scenario(tmp_path: Path, text: str) -> str:
    path = tmp_path / "shop.yaml"
    path.write_text(text)
    return str(path)


CHAIN = """
name: shop chain
base_url: {base}
data:
  users: {{file: users.csv, order: unique}}
load: {{users: {users}, iterations: {iterations}}}
thresholds: ["checks>99%"]
flows:
  - name: shop
    steps:
      - name: login
        method: POST
        path: /login
        json: {{username: "{{{{ users.username }}}}", password: "{{{{ users.password }}}}"}}
        extract:
          token: {{json: $.token}}
          session: {{cookie: session}}
        checks:
          status: 200
          json: [{{path: $.user, equals: "{{{{ users.username }}}}"}}]
      - name: list
        path: /items
        auth: {{bearer: "{{{{ token }}}}"}}
        extract:
          item_id: {{json: "$.items[3].id"}}
        checks:
          status: 2xx
          json: [{{path: "$.items[0].id", exists: true}}]
          headers: {{content-type: {{contains: json}}}}
      - name: detail
        path: /items/{{{{ item_id }}}}
        auth: {{bearer: "{{{{ token }}}}"}}
        checks:
          status: 200
          body_matches: '"price":\\s*\\d+'
          max_latency: 5s
      - name: review
        method: POST
        path: /items/{{{{ item_id }}}}/reviews
        auth: {{bearer: "{{{{ token }}}}"}}
        form:
          rating: "{{{{ random_choice('4', '5') }}}}"
          text: "nice & cheap #{{{{ counter() }}}}"
        checks: {{status: 201, json: [$.review]}}
      - name: me
        path: /me
        checks: {{json: [{{path: $.username, matches: "^user[0-9]+$"}}]}}
"""


def test_every_user_runs_the_whole_chain_with_its_own_token(
    loadlens: LoadlensRunner, shop: tuple[ShopApp, str], tmp_path: Path
) -> None:
    app, base = shop
    users, iterations = 8, 5
    _users_csv(tmp_path, [f"user{i}" for i in range(1, users + 1)])
    text = CHAIN.format(base=base, users=users, iterations=iterations)
    run = loadlens.run(_scenario(tmp_path, text), timeout=60)
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    n = users * iterations
    # The app's view: every chain step succeeded for every iteration; nothing was rejected.
    assert app.rejected == {}, app.rejected
    assert dict(app.served) == {"login": n, "items": n, "item": n, "review": n, "me": n}
    # `unique`: each user logged in as its own account, once per iteration.
    assert app.logins == {f"user{i}": iterations for i in range(1, users + 1)}
    assert {item for _, item, _, _ in app.reviews} == {4}
    assert {rating for _, _, rating, _ in app.reviews} <= {"4", "5"}
    assert all(text.startswith("nice & cheap #") for *_, text in app.reviews), app.reviews[:3]
    # Per-step stats, by step name, in order.
    assert [(e["name"], e["requests"], e["failures"]) for e in result["endpoints"]] == [
        ("login", n, 0),
        ("list", n, 0),
        ("detail", n, 0),
        ("review", n, 0),
        ("me", n, 0),
    ]
    assert result["endpoints"][3]["status_codes"] == {"201": n}
    checks = {c["name"]: (c["passes"], c["fails"]) for c in result["checks"]}
    assert checks == {
        "login: status 200": (n, 0),
        "login: $.user == '{{ users.username }}'": (n, 0),
        "list: status 2xx": (n, 0),
        "list: $.items[0].id exists": (n, 0),
        "list: content-type contains 'json'": (n, 0),
        "detail: status 200": (n, 0),
        "detail: body matches '\"price\":\\s*\\d+'": (n, 0),
        "detail: latency <= 5000ms": (n, 0),
        "review: status 201": (n, 0),
        "review: $.review exists": (n, 0),
        "me: $.username matches '^user[0-9]+$'": (n, 0),
    }
    assert result["totals"]["checks_passed"] == 11 * n
    assert result["thresholds"] == [
        {"expression": "checks>99%", "value": 1.0, "ok": True, "note": None}
    ]


FAILING = """
name: failures
base_url: {base}
data:
  users: {{file: users.csv, order: sequential}}
load: {{users: 2, iterations: 6}}
thresholds: ["checks>99%"]
flows:
  - name: shop
    steps:
      - name: login
        method: POST
        path: /login
        json: {{username: "{{{{ users.username }}}}", password: "{{{{ users.password }}}}"}}
        extract: {{token: {{json: $.token}}}}
      - name: list
        path: /items
        auth: {{bearer: "{{{{ token }}}}"}}
        checks:
          json: [{{path: "$.items[0].name", equals: "item 2"}}]
      - name: missing
        path: /items/99
        auth: {{bearer: "{{{{ token }}}}"}}
      - name: detail
        path: /items/3
        auth: {{bearer: "{{{{ token }}}}"}}
        extract: {{seller: {{json: $.seller}}}}
      - name: seller
        path: /sellers/{{{{ seller }}}}
"""


def test_failed_extractions_and_checks_are_counted_and_end_the_iteration(
    loadlens: LoadlensRunner, shop: tuple[ShopApp, str], tmp_path: Path
) -> None:
    app, base = shop
    # Rows alternate good and bad passwords: half of the 12 logins are refused.
    names = [f"user{i}" for i in range(1, 13)]
    _users_csv(tmp_path, names, bad=frozenset(names[1::2]))
    run = loadlens.run(_scenario(tmp_path, FAILING.format(base=base)), timeout=60)
    assert run.returncode == 99, run.describe()  # checks>99% did not hold
    result = check_result(run.result)
    endpoints = {e["name"]: e for e in result["endpoints"]}
    # 6 refused logins (a 401 says why), with no token the iteration ended there: the app
    # saw no request without a token.
    assert endpoints["login"]["requests"] == 12
    assert endpoints["login"]["errors"] == {"http-4xx": 6}
    assert endpoints["login"]["status_codes"] == {"200": 6, "401": 6}
    assert app.rejected == {"login": 6}
    # The check on the list fails on every response ("item 1" is first), as check-failed.
    assert endpoints["list"]["requests"] == 6
    assert endpoints["list"]["errors"] == {"check-failed": 6}
    assert result["checks"] == [
        {"name": "list: $.items[0].name == 'item 2'", "passes": 0, "fails": 6}
    ]
    # An unchecked 404 is still an http-4xx failure, and the chain goes on after it.
    assert endpoints["missing"]["errors"] == {"http-4xx": 6}
    # A 200 without the value to extract is extract-failed, and the step that needs the
    # value is never sent.
    assert endpoints["detail"]["status_codes"] == {"200": 6}
    assert endpoints["detail"]["errors"] == {"extract-failed": 6}
    assert endpoints["seller"]["requests"] == 0
    assert result["thresholds"][0]["ok"] is False
    assert result["totals"]["iterations"] == 12


SESSION = """
name: session
base_url: {base}
data:
  users: {{file: users.csv, order: random}}
defaults: {{cookies: {cookies}}}
load: {{users: 3, iterations: 4}}
flows:
  - name: session
    steps:
      - name: login
        method: POST
        path: /login
        json: {{username: "{{{{ users.username }}}}", password: "{{{{ users.password }}}}"}}
      - name: me
        path: /me
        checks: {{status: 200, json: [{{path: $.username, equals: "{{{{ users.username }}}}"}}]}}
      - name: admin
        path: /admin
        auth: {{basic: ["{{{{ users.username }}}}", "{{{{ users.password }}}}"]}}
        checks: {{status: 200}}
      - name: logout
        method: POST
        path: /logout
      - name: me after logout
        path: /me
        checks: {{status: 401}}
"""


@pytest.mark.parametrize("cookies", [True, False])
def test_cookie_jar_keeps_and_expires_the_session_and_basic_auth_is_per_user(
    loadlens: LoadlensRunner, shop: tuple[ShopApp, str], tmp_path: Path, cookies: bool
) -> None:
    app, base = shop
    _users_csv(tmp_path, [f"user{i}" for i in range(1, 6)])
    text = SESSION.format(base=base, cookies=str(cookies).lower())
    run = loadlens.run(_scenario(tmp_path, text), timeout=60)
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    checks = {c["name"]: (c["passes"], c["fails"]) for c in result["checks"]}
    assert checks["admin: status 200"] == (12, 0)  # basic auth from each row
    assert app.served["admin"] == 12
    # The expected 401 after logout is no failure: the status check says it is right.
    endpoints = {e["name"]: e for e in result["endpoints"]}
    assert endpoints["me after logout"]["status_codes"] == {"401": 12}
    assert endpoints["me after logout"]["failures"] == 0
    if cookies:
        assert checks["me: status 200"] == (12, 0)
        assert checks["me: $.username == '{{ users.username }}'"] == (12, 0)
        assert app.served["me"] == 12
    else:  # without the jar the session cookie never comes back
        assert checks["me: status 200"] == (0, 12)
        assert endpoints["me"]["errors"] == {"check-failed": 12}


def test_data_that_runs_out_with_stop_ends_the_run(
    loadlens: LoadlensRunner, shop: tuple[ShopApp, str], tmp_path: Path
) -> None:
    app, base = shop
    rows = [{"username": f"user{i}", "password": f"pw-user{i}"} for i in range(1, 8)]
    (tmp_path / "users.json").write_text(json.dumps(rows))
    text = f"""
base_url: {base}
data:
  users: {{file: users.json, on_exhausted: stop}}
load: {{users: 3, duration: 30s}}
requests:
  - method: POST
    path: /login
    json: {{username: "{{{{ users.username }}}}", password: "{{{{ users.password }}}}"}}
    think_time: 50ms
"""
    run = loadlens.run(_scenario(tmp_path, text), timeout=60)
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    # Each of the 7 rows was used exactly once, then the run ended long before 30 s.
    assert app.logins == {f"user{i}": 1 for i in range(1, 8)}
    assert result["totals"]["requests"] == 7
    assert run.elapsed < 15, run.describe()
    assert result["generator"]["notes"] == [
        "data 'users' ran out (on_exhausted: stop), so the run ended early"
    ]


def test_a_dead_target_fails_the_chain_step_without_a_crash(
    loadlens: LoadlensRunner, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = f"""
base_url: http://127.0.0.1:{port}
load: {{users: 2, iterations: 3}}
flows:
  - name: chain
    steps:
      - {{name: login, method: POST, path: /login, extract: {{token: {{json: $.token}}}},
          checks: {{status: 200}}}}
      - {{name: list, path: /items, auth: {{bearer: "{{{{ token }}}}"}}}}
"""
    run = loadlens.run(_scenario(tmp_path, text), timeout=60)
    assert run.returncode == 98, run.describe()  # the target was never reached
    result = check_result(run.result)
    assert [f["id"] for f in result["findings"]] == ["target-unreachable"]
    login = result["endpoints"][0]
    assert login["errors"] == {"connect-refused": 6}
    assert result["endpoints"][1]["requests"] == 0  # never sent without a token
    assert result["checks"] == [{"name": "login: status 200", "passes": 0, "fails": 6}]


ON_START = """
base_url: {base}
data:
  users: {{file: users.csv, order: unique}}
defaults:
  auth: {{bearer: "{{{{ token }}}}"}}
load: {{users: 4, iterations: 5}}
on_start:
  - name: login
    method: POST
    path: /login
    auth: none
    json: {{username: "{{{{ users.username }}}}", password: "{{{{ users.password }}}}"}}
    extract: {{token: {{json: $.token}}}}
flows:
  - name: browse
    steps:
      - {{name: list, path: /items, checks: {{status: 200}}}}
      - {{name: detail, path: /items/7, checks: {{status: 200}}}}
"""


def test_on_start_logs_each_user_in_once_and_retries_until_it_works(
    loadlens: LoadlensRunner, shop: tuple[ShopApp, str], tmp_path: Path
) -> None:
    app, base = shop
    # user4's password is wrong: its on_start fails every time and it never browses.
    _users_csv(tmp_path, ["user1", "user2", "user3", "user4"], bad=frozenset({"user4"}))
    run = loadlens.run(_scenario(tmp_path, ON_START.format(base=base)), timeout=60)
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    assert app.logins == {"user1": 1, "user2": 1, "user3": 1}
    assert app.rejected == {"login": 5}  # one try per iteration for user4
    endpoints = {e["name"]: e for e in result["endpoints"]}
    assert [e["name"] for e in result["endpoints"]] == ["login", "list", "detail"]
    assert endpoints["login"]["requests"] == 8
    assert endpoints["list"]["requests"] == endpoints["detail"]["requests"] == 15
    assert app.served["items"] == app.served["item"] == 15
    assert result["totals"]["iterations"] == 20


def test_a_check_on_a_value_the_step_failed_to_extract_fails_without_a_crash(
    loadlens: LoadlensRunner, shop: tuple[ShopApp, str], tmp_path: Path
) -> None:
    _, base = shop
    text = f"""
base_url: {base}
load: {{users: 2, iterations: 3}}
on_start:
  - name: login
    method: POST
    path: /login
    json: {{username: user1, password: wrong}}
    checks: {{status: 200}}
flows:
  - name: f
    steps:
      - name: login again
        method: POST
        path: /login
        json: {{username: user2, password: wrong}}
        extract: {{token: {{json: $.token}}}}
        checks: {{body_contains: "{{{{ token }}}}", status: 401}}
"""
    run = loadlens.run(_scenario(tmp_path, text), timeout=60)
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    endpoints = {e["name"]: e for e in result["endpoints"]}
    # on_start (a refused login, no extraction) fails every time: the flow never runs.
    assert endpoints["login"]["requests"] == 6
    assert endpoints["login"]["errors"] == {"check-failed": 6}
    assert endpoints["login again"]["requests"] == 0
    assert result["totals"]["iterations"] == 6


def test_a_check_on_a_missing_extracted_value_counts_as_failed(
    loadlens: LoadlensRunner, shop: tuple[ShopApp, str], tmp_path: Path
) -> None:
    _, base = shop
    text = f"""
base_url: {base}
load: {{users: 2, iterations: 3}}
requests:
  - name: refused login
    method: POST
    path: /login
    json: {{username: user2, password: wrong}}
    extract: {{token: {{json: $.token}}}}
    checks: {{body_contains: "{{{{ token }}}}", status: 401}}
"""
    run = loadlens.run(_scenario(tmp_path, text), timeout=60)
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    assert result["totals"]["requests"] == 6
    assert result["totals"]["errors"] == {"check-failed": 6}
    assert {c["name"]: (c["passes"], c["fails"]) for c in result["checks"]} == {
        "refused login: status 401": (6, 0),
        "refused login: body contains '{{ token }}'": (0, 6),
    }
    assert "Traceback" not in run.stderr
