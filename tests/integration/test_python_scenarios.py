"""`loadlens run flows.py`: Python flows against the real shop app, and bad scripts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import LoadlensRunner, _env, check_result
from support.shop_app import ShopApp, running_shop
from support.target_server import TargetServer

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]


@pytest.fixture
def shop() -> Iterator[tuple[ShopApp, str]]:
    """The shop app on 127.0.0.1, fresh for each test."""
    with running_shop() as served:
        yield served


SCRIPT = """
from loadlens.scripting import Session, flow, on_start

base_url = "{base}"
load = {{"users": 6, "iterations": 4}}
thresholds = ["checks>99%", "error_rate<1%"]


@on_start
async def login(s: Session) -> None:
    name = f"user{{s.user_id}}"
    r = await s.post("/login", json={{"username": name, "password": "pw-" + name}},
                     name="login", expect=200)
    s.headers["Authorization"] = "Bearer " + r.json()["token"]
    s.vars["name"] = name


@flow(weight=3)
async def shop(s: Session) -> None:
    items = (await s.get("/items", name="list")).json()["items"]
    s.check("list has 20 items", len(items) == 20)
    item = items[s.iteration % len(items)]
    r = await s.get(f"/items/{{item['id']}}", name="detail")
    s.check("detail matches", r.json()["id"] == item["id"])
    r = await s.post(f"/items/{{item['id']}}/reviews", data={{"rating": "5", "text": "ok"}},
                     name="review", expect=201)
    me = await s.get("/me", name="me")
    s.check("me is me", me.json()["username"] == s.vars["name"])


@flow
async def broken(s: Session) -> None:
    r = await s.get("/items/999", name="missing")
    r.json()["price"]
"""


def _script(tmp_path: Path, text: str) -> str:
    path = tmp_path / "flows.py"
    path.write_text(text)
    return str(path)


def test_python_flows_run_the_chain_for_every_user(
    loadlens: LoadlensRunner, shop: tuple[ShopApp, str], tmp_path: Path
) -> None:
    app, base = shop
    run = loadlens.run(_script(tmp_path, SCRIPT.format(base=base)), timeout=60)
    result = check_result(run.result)
    endpoints = {e["name"]: e for e in result["endpoints"]}
    # Six users, each logged in once (on_start) as its own account.
    assert endpoints["login"]["requests"] == 6
    assert len(app.logins) == 6 and set(app.logins.values()) == {1}
    shops = endpoints["list"]["requests"]
    broken = endpoints["missing"]["requests"]
    assert shops + broken == 24  # 6 users x 4 iterations, one flow each
    assert shops > 0 and broken > 0
    for name in ("detail", "review", "me"):
        assert endpoints[name]["requests"] == shops, name
    assert app.rejected == {}  # every request carried the user's token
    assert endpoints["review"]["status_codes"] == {"201": shops}
    checks = {c["name"]: (c["passes"], c["fails"]) for c in result["checks"]}
    assert checks == {
        "login: status 200": (6, 0),
        "review: status 201": (shops, 0),
        "list has 20 items": (shops, 0),
        "detail matches": (shops, 0),
        "me is me": (shops, 0),
    }
    # The 404 counts as a failed request; the KeyError after it as a script error.
    assert endpoints["missing"]["errors"] == {"http-4xx": broken}
    assert result["script_errors"] == {"flows.py:34: KeyError: 'price'": broken}
    assert "flows.py" in run.stderr and "KeyError" in run.stderr  # its traceback, once
    assert run.returncode == 99, run.describe()  # error_rate<1% did not hold
    assert [t["ok"] for t in result["thresholds"]] == [True, False]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x = (\n", "flows.py:1: SyntaxError"),
        ("import no_such_module_here\n", "flows.py:1: ModuleNotFoundError"),
        ("load = {'users': 2}\n", "no flows: mark an `async def f(session)` with @flow"),
        (
            "from loadlens.scripting import flow\n@flow\ndef f(s):\n    pass\n",
            "flows.py:2: TypeError: @flow goes on an `async def`",
        ),
        (
            "from loadlens.scripting import flow\nload = {'userz': 2}\n"
            "@flow\nasync def f(s):\n    pass\n",
            "flows.py:2: load.userz: Extra inputs are not permitted",
        ),
        (
            "from loadlens.scripting import flow\nthresholds = ['p95<<1']\n"
            "@flow\nasync def f(s):\n    pass\n",
            "flows.py:2: thresholds[0]:",
        ),
    ],
)
def test_a_bad_script_is_reported_with_its_line_and_exits_2(
    loadlens: LoadlensRunner, tmp_path: Path, text: str, expected: str
) -> None:
    script = _script(tmp_path, text)
    for command in (["run", script, "-u", "1", "-d", "1s"], ["validate", script]):
        done = subprocess.run([sys.executable, "-m", "loadlens", *command], capture_output=True,
                              text=True, timeout=30, env=_env(loadlens.home))  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert expected in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


STUCK = """
from loadlens.scripting import Session, flow, on_start

base_url = "{base}"
load = {{"users": 2, "duration": "2s"}}


@on_start
async def login(s: Session) -> None:
    await s.post("/login", json={{"username": "user1", "password": "wrong"}}, name="login")


@flow
async def never(s: Session) -> None:
    await s.get("/items", name="list")
"""

BUSY = """
from loadlens.scripting import Session, flow

load = {{"users": 2, "duration": "2s"}}


@flow
async def no_request(s: Session) -> None:
    return  # gives the loop nothing to wait for
"""


def test_a_failed_python_on_start_keeps_the_user_from_its_flows(
    loadlens: LoadlensRunner, shop: tuple[ShopApp, str], tmp_path: Path
) -> None:
    app, base = shop
    run = loadlens.run(_script(tmp_path, STUCK.format(base=base)), timeout=60)
    result = check_result(run.result)
    assert [e["name"] for e in result["endpoints"]] == ["login"]
    assert app.served["items"] == 0 and app.rejected["items"] == 0


def test_a_flow_that_awaits_nothing_does_not_freeze_the_worker(
    loadlens: LoadlensRunner, tmp_path: Path
) -> None:
    run = loadlens.run(_script(tmp_path, BUSY.format()), timeout=60)
    assert run.returncode in (0, 98), run.describe()  # a hot loop may well bind the CPU
    result = check_result(run.result)
    assert result["status"] == "completed"
    assert result["totals"]["iterations"] > 0 and result["totals"]["requests"] == 0
    assert run.elapsed < 20, run.describe()


def test_validate_says_a_python_file_is_run_and_a_yaml_file_is_not(
    loadlens: LoadlensRunner, tmp_path: Path
) -> None:
    text = "from loadlens.scripting import flow\nbase_url = 'http://127.0.0.1:9'\n"
    script = _script(tmp_path, text + "@flow\nasync def f(s):\n    pass\n")
    yaml_file = tmp_path / "s.yaml"
    yaml_file.write_text("base_url: http://127.0.0.1:9\nrequests: [{path: /}]\n")
    said = {}
    for path in (script, str(yaml_file)):
        done = subprocess.run([sys.executable, "-m", "loadlens", "validate", path],
                              capture_output=True, text=True, timeout=30,
                              env=_env(loadlens.home))  # fmt: skip
        assert done.returncode == 0, done.stderr
        said[Path(path).suffix] = done.stderr
    assert "runs its module-level code" in said[".py"]
    assert said[".yaml"] == ""


INJECTING = """
from loadlens.scripting import Session, flow

base_url = "{base}"
load = {{"users": 1, "iterations": 2}}


@flow
async def send(s: Session) -> None:
    await s.get("/echo", name="plain", headers={{"X-Note": "fine"}})
    await s.get("/echo", name="injected", headers={{"X-Note": "a\\r\\nX-Injected: 1"}})
"""


def test_a_line_break_in_a_python_header_is_a_script_error_never_sent(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    script = _script(tmp_path, INJECTING.format(base=target_server.url("")))
    run = loadlens.run(script, "--workers", "1")
    result = check_result(run.result)
    [(error, count)] = result["script_errors"].items()
    assert "flows.py:11: HeadError: header 'X-Note' has a line break" in error and count == 2
    sent = [{n.lower(): v for n, v in e.headers} for e in target_server.echoes]
    assert [h.get("x-note") for h in sent] == ["fine", "fine"]  # only the plain one was sent
    assert all("x-injected" not in h for h in sent)
