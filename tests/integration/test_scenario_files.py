"""`loadlens run FILE.yaml`: flows, weights, think time, pacing, overrides, and bad files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import LoadlensRunner, _env, check_result
from support.target_server import TargetServer

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[2]


def _cli(loadlens: LoadlensRunner, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m loadlens ARGS` (not `run`: validate, init), with the test's environment."""
    return subprocess.run([sys.executable, "-m", "loadlens", *args], capture_output=True,
                          text=True, timeout=30, env=_env(loadlens.home))  # fmt: skip


def _write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.slow
def test_a_flow_runs_every_step_for_every_user(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    scenario = _write(
        tmp_path,
        f"""
name: two steps
base_url: {target_server.url("")}
load: {{users: 3, iterations: 4}}
flows:
  - name: browse
    steps:
      - name: list
        path: /ok
        query: {{page: 2}}
      - name: create
        method: POST
        path: /echo
        json: {{name: ada}}
""",
    )
    run = loadlens.run(scenario, timeout=60)
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    assert target_server.requests_by_path == {"/ok": 12, "/echo": 12}
    assert [(e["name"], e["requests"]) for e in result["endpoints"]] == [
        ("list", 12),
        ("create", 12),
    ]
    assert result["totals"]["iterations"] == 12
    assert all(e["timeline"] for e in result["endpoints"])  # per-endpoint seconds
    echoed = target_server.last_echo
    assert echoed is not None and bytes(echoed.body) == b'{"name":"ada"}'
    assert echoed.header("content-type") == "application/json"


@pytest.mark.slow
def test_templates_fill_path_query_headers_and_body_per_user(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    scenario = _write(
        tmp_path,
        f"""
base_url: {target_server.url("")}
variables: {{team: "a b&c", token: "s3cret"}}
load: {{users: 2, iterations: 3}}
requests:
  - name: create
    method: POST
    path: /echo
    query: {{team: "{{{{ team }}}}", n: "{{{{ counter() }}}}"}}
    headers: {{X-Token: "{{{{ token }}}}", X-Id: "{{{{ uuid() }}}}"}}
    json: {{who: "{{{{ team }}}}", pick: "{{{{ random_choice('x', 'y') }}}}"}}
""",
    )
    run = loadlens.run(scenario, timeout=60)
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    assert [e["name"] for e in result["endpoints"]] == ["create"]  # one endpoint, six requests
    echoes = target_server.echoes
    assert len(echoes) == 6
    bodies = [json.loads(bytes(e.body)) for e in echoes]
    assert all(b["who"] == "a b&c" and b["pick"] in ("x", "y") for b in bodies)
    assert all(e.query["team"] == "a b&c" for e in echoes)
    # counter() counts per user: each of the 2 users sends n = 1, 2, 3.
    assert sorted(int(e.query["n"]) for e in echoes) == [1, 1, 2, 2, 3, 3]
    assert len({e.header("x-id") for e in echoes}) == 6
    assert all(e.header("x-token") == "s3cret" for e in echoes)


@pytest.mark.slow
def test_weighted_requests_are_picked_by_weight(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    scenario = _write(
        tmp_path,
        f"""
base_url: {target_server.url("")}
load: {{users: 2, iterations: 200}}
requests:
  - {{name: often, path: /ok, weight: 3}}
  - {{name: seldom, path: /nocontent, weight: 1}}
""",
    )
    run = loadlens.run(scenario, timeout=60)
    assert run.returncode == 0, run.describe()
    seen = target_server.requests_by_path
    assert seen["/ok"] + seen["/nocontent"] == 400
    # 3:1 over 400 picks: 300 expected, sd ~8.7; six sd either way.
    assert 248 <= seen["/ok"] <= 352, seen


@pytest.mark.slow
def test_think_time_and_pacing_hold_the_user(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    scenario = _write(
        tmp_path,
        f"""
base_url: {target_server.url("")}
load: {{users: 1, iterations: 3}}
flows:
  - name: paced
    pacing: 400ms
    steps:
      - {{path: /ok, think_time: 100ms}}
""",
    )
    run = loadlens.run(scenario, timeout=60)
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    assert result["totals"]["requests"] == 3
    # Three iterations, each held to 400 ms by the pacing: about 1.2 s of load.
    assert result["duration_s"] >= 1.1


@pytest.mark.slow
def test_a_step_timeout_overrides_the_default(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    scenario = _write(
        tmp_path,
        f"""
base_url: {target_server.url("")}
defaults: {{timeout: 20s}}
load: {{users: 1, iterations: 2}}
requests:
  - {{path: /hang, timeout: 200ms}}
""",
    )
    run = loadlens.run(scenario, timeout=60)
    result = check_result(run.result)
    assert result["totals"]["errors"] == {"read-timeout": 2}
    assert run.elapsed < 10


@pytest.mark.slow
def test_flags_override_the_load_section(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    scenario = _write(
        tmp_path,
        f"""
base_url: {target_server.url("")}
load: {{users: 50, duration: 1m}}
thresholds: [p95<1ms]
requests:
  - path: /delay?ms=5
""",
    )
    run = loadlens.run(scenario, "-u", "2", "-i", "3", "--threshold", "error_rate<1%", timeout=60)
    assert run.returncode == 99, run.describe()  # the file's p95<1ms cannot hold
    result = check_result(run.result)
    assert result["load"]["executor"] == "per-vu-iterations"
    assert result["totals"]["requests"] == 6
    assert [t["expression"] for t in result["thresholds"]] == ["p95<1ms", "error_rate<1%"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("base_url: http://127.0.0.1:9\nlod: {users: 1}\nrequests: [{path: /}]\n",
         ":2: lod: unknown key 'lod'; did you mean 'load'?"),
        ("base_url: http://127.0.0.1:9\nrequests:\n  - path: /\n    methd: GET\n",
         ":4: requests[0].methd: unknown key 'methd'; did you mean 'method'?"),
        ("requests:\n  - {path: /x, think_time: soon}\n", ":2: requests[0].think_time"),
        ("base_url: http://127.0.0.1:9\nrequests: [{path: /, headers: {A: '{{ t }}'}}]\n",
         ":2: requests[0].headers.A: {{ t }}: undefined variable"),
        ("base_url: http://127.0.0.1:9\nrequests: [{path: '/{{ nope(1) }}'}]\n",
         ":2: requests[0].path: {{ nope(1) }}: unknown function 'nope'"),
        ("requests: [{url: 'http://{{ host }}/x'}]\nvariables: {host: a}\n",
         ":1: requests[0].url: 'http://{{ host }}/x': the host cannot be a template"),
        ("name: x\nrequests: [\n", ":3: YAML syntax"),
        ("base_url: http://127.0.0.1:9\nthresholds: [p95<<1]\nrequests: [{path: /}]\n",
         ":2: thresholds[0]"),
        ("base_url: http://127.0.0.1:9\nload:\n  users: 1\n  users: 2\nrequests: [{path: /}]\n",
         ":4: load.users: this key appears twice"),
    ],
)  # fmt: skip
def test_bad_files_name_file_line_and_key(
    loadlens: LoadlensRunner, tmp_path: Path, text: str, where: str
) -> None:
    path = _write(tmp_path, text, "bad.yaml")
    for command in (["run", path, "--quiet"], ["validate", path]):
        proc = _cli(loadlens, *command)
        assert proc.returncode == 2, proc.stderr
        assert f"bad.yaml{where}" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_init_writes_a_scenario_that_validates(loadlens: LoadlensRunner, tmp_path: Path) -> None:
    target = str(tmp_path / "starter.yaml")
    init = _cli(loadlens, "init", target)
    assert init.returncode == 0, init.stderr
    again = _cli(loadlens, "init", target)
    assert again.returncode == 2 and "exists" in again.stderr
    check = _cli(loadlens, "validate", target)
    assert check.returncode == 0, check.stderr


EXAMPLES = sorted([*(REPO / "examples").glob("*.yaml"), *(REPO / "examples").glob("*.py")])


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_validates(loadlens: LoadlensRunner, example: Path) -> None:
    proc = _cli(loadlens, "validate", str(example))
    assert proc.returncode == 0, proc.stderr
