"""The run store, history, reports (JUnit, CSV) and before/after comparison, via the CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from support.cli import LoadlensRunner, _env, check_result
from support.target_server import TargetServer

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


def _cli(loadlens: LoadlensRunner, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loadlens", *args], capture_output=True,
                          text=True, timeout=60, env=_env(loadlens.home),
                          cwd=loadlens.tmp_path)  # fmt: skip


def test_runs_are_stored_listed_filtered_and_reported(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    url = target_server.url("/ok")
    first = loadlens.run(url, "-u", "2", "-i", "5", "--name", "checkout", "--tag", "env=staging",
                         "--tag", "build=41", "--threshold", "p95<1s")  # fmt: skip
    second = loadlens.run(url, "-u", "2", "-i", "3", "--name", "search", "--tag", "env=prod")
    skipped = loadlens.run(url, "-u", "1", "-i", "1", "--name", "nostore", "--no-store")
    ids = [check_result(r.result)["id"] for r in (first, second, skipped)]
    assert check_result(first.result)["tags"] == {"env": "staging", "build": "41"}

    listed = _cli(loadlens, "history")
    assert listed.returncode == 0, listed.stderr
    assert ids[0] in listed.stdout and ids[1] in listed.stdout and ids[2] not in listed.stdout
    assert listed.stdout.index(ids[1]) < listed.stdout.index(ids[0])  # newest first
    assert "held" in listed.stdout  # the first run's threshold
    staging = _cli(loadlens, "history", "--tag", "env=staging")
    assert ids[0] in staging.stdout and ids[1] not in staging.stdout
    by_name = _cli(loadlens, "history", "--name", "sear")
    assert ids[1] in by_name.stdout and ids[0] not in by_name.stdout

    # A stored run reports by id prefix, and writes JUnit and CSV files.
    junit, csv_dir = tmp_path / "out" / "junit.xml", tmp_path / "out" / "csv"
    shown = _cli(loadlens, "report", ids[0][:6], "--junit", str(junit), "--csv", str(csv_dir))
    assert shown.returncode == 0, shown.stderr
    assert "checkout" in shown.stdout and "p95<1s" in shown.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c.find("failure") is not None for c in suite.iter("testcase")}
    assert cases == {"the run's numbers can be trusted": False, "p95<1s": False}
    assert suite.get("tests") == "2" and suite.get("failures") == "0"
    with (csv_dir / "summary.csv").open() as f:
        summary = list(csv.DictReader(f))
    assert summary[0]["run_id"] == ids[0] and summary[0]["requests"] == "10"
    with (csv_dir / "timeline.csv").open() as f:
        assert sum(int(row["requests"]) for row in csv.DictReader(f)) == 10
    with (csv_dir / "endpoints.csv").open() as f:
        assert [row["status_200"] for row in csv.DictReader(f)] == ["10"]


def test_a_run_writes_junit_with_failed_thresholds_and_checks(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"""
base_url: {target_server.url("")}
load: {{users: 1, iterations: 4}}
thresholds: ["p95<1us", "error_rate<1%"]
requests:
  - {{name: ok, path: /ok, checks: {{status: 200, body_contains: nowhere}}}}
""")
    junit = tmp_path / "junit.xml"
    run = loadlens.run(str(scenario), "--junit", str(junit))
    assert run.returncode == 99, run.describe()
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    failures = {c.get("name"): (c.find("failure").get("message") if c.find("failure") is not None
                                else None) for c in suite.iter("testcase")}  # type: ignore[union-attr]  # fmt: skip
    assert failures["ok: status 200"] is None
    assert failures["ok: body contains 'nowhere'"] == "failed 4 of 4 times"
    assert str(failures["p95<1us"]).startswith("p95<1us crossed: measured")
    assert failures["error_rate<1%"] == "error_rate<1% crossed: measured 100.00%"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "bad.json:1: not valid JSON"),
        ('{"hello": "world"}', "bad.json: not a loadlens result (no `schema` key"),
        ('{"schema": "k6.summary/1"}', "bad.json: not a loadlens result (schema 'k6.summary/1'"),
        ('{"schema": "loadlens.run/1", "id": 3}', "bad.json: "),
        ("\x00\xff\xfe", "bad.json: not a loadlens result (not UTF-8 text)"),
    ],
)
def test_a_corrupt_or_foreign_file_is_refused_with_exit_2(
    loadlens: LoadlensRunner, tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content.encode("latin-1"))
    for args in (["report", str(bad)], ["compare", str(bad), str(bad)]):
        done = _cli(loadlens, *args)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    missing = _cli(loadlens, "report", "0123abcd")
    assert missing.returncode == 2 and "no stored run has an id starting with" in missing.stderr


def _compare(loadlens: LoadlensRunner, a: Path, b: Path, *extra: str) -> tuple[int, str]:
    done = _cli(loadlens, "compare", str(a), str(b), *extra)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout + done.stderr


def _verdicts(output: str) -> dict[str, str]:
    verdicts = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 5 and cells[0] in ("throughput", "average", "p50", "p95", "p99", "peak",
                                            "error rate"):  # fmt: skip
            verdicts[cells[0]] = cells[4]
    return verdicts


def test_same_load_same_target_is_no_change_and_a_2x_slower_target_regresses(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    # A steady target: each response takes 20 ms, 10 users, 8 s (6 seconds judged).
    runs = []
    for ms in (20, 20, 40):
        run = loadlens.run(target_server.url(f"/delay?ms={ms}"), "-u", "10", "-d", "8s",
                           "--workers", "1", timeout=60)  # fmt: skip
        check_result(run.result)
        runs.append(loadlens.tmp_path / f"run{len(runs) + 1}.json")
    code, same = _compare(loadlens, runs[0], runs[1], "--fail-on-regression")
    assert code == 0, same
    assert set(_verdicts(same).values()) == {"no significant change"}, same
    code, slower = _compare(loadlens, runs[0], runs[2], "--fail-on-regression")
    verdicts = _verdicts(slower)
    assert verdicts["throughput"] == verdicts["average"] == verdicts["p50"] == "regressed", slower
    assert verdicts["p95"] == "regressed" and verdicts["error rate"] == "no significant change"
    assert code == 99 and "regressed by more than 5%" in slower
    code, faster = _compare(loadlens, runs[2], runs[0])
    assert code == 0 and _verdicts(faster)["average"] == "improved", faster


def test_the_store_works_on_postgresql(
    loadlens: LoadlensRunner, target_server: TargetServer, pg_url: str
) -> None:
    url = pg_url
    run = loadlens.run(target_server.url("/ok"), "-u", "2", "-i", "3", "--db", url,
                       "--tag", "store=pg")  # fmt: skip
    run_id = check_result(run.result)["id"]
    listed = _cli(loadlens, "history", "--db", url, "--tag", "store=pg")
    assert listed.returncode == 0 and run_id in listed.stdout, listed.stderr
    shown = _cli(loadlens, "report", run_id, "--db", url, "--csv", "pg-csv")
    assert shown.returncode == 0, shown.stderr
    assert (loadlens.tmp_path / "pg-csv" / "summary.csv").read_text().count(run_id) == 1
    stored = json.loads((loadlens.tmp_path / "run1.json").read_text())
    assert stored["id"] == run_id


def test_names_with_brackets_are_shown_as_written(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    url = target_server.url("/ok?filter[status]=open&x[/y]=2")
    run = loadlens.run(url, "-u", "1", "-i", "2", "--name", "[bold]api[/bold] [/v2]", quiet=False)
    assert run.returncode == 0, run.describe()
    assert "filter[status]=open" in run.stdout and "[bold]api[/bold] [/v2]" in run.stdout
    run_id = check_result(run.result)["id"]
    for args in (["history"], ["report", run_id], ["compare", run_id, run_id]):
        done = _cli(loadlens, *args)
        assert done.returncode == 0, done.stderr
        assert "[bold]" in done.stdout, args  # shown, not taken for markup (it may wrap)


def test_history_report_and_compare_speak_json_with_full_ids(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    url = target_server.url("/ok")
    name = "checkout-" + "very-long-name-" * 12  # longer than any terminal line
    first = check_result(loadlens.run(url, "-u", "1", "-i", "3", "--name", name).result)
    second = check_result(loadlens.run(url, "-u", "1", "-i", "3", "--name", name).result)

    listed = _cli(loadlens, "history", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [row["id"] for row in rows] == [second["id"], first["id"]]
    assert rows[0]["name"] == name and rows[0]["verdict"] == "valid"
    assert rows[0]["requests"] == 3 and "started_at" in rows[0]

    # Piped (as here), the table never cuts an id or a name: each is there whole.
    table = _cli(loadlens, "history").stdout
    assert first["id"] in table and second["id"] in table
    line = next(line for line in table.splitlines() if first["id"] in line)
    assert name in line and "…" not in table  # one line per run, nothing cut

    shown = _cli(loadlens, "report", first["id"], "--json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["id"] == first["id"] and document["timing_error_ms"] >= 0
    assert document["findings"] == first["findings"]

    compared = _cli(loadlens, "compare", first["id"], second["id"], "--json")
    assert compared.returncode == 0, compared.stderr
    data = json.loads(compared.stdout)
    assert data["before"]["id"] == first["id"] and data["after"]["id"] == second["id"]
    metrics = {m["metric"]: m for m in data["overall"]}
    assert {"rps", "error_rate"} <= set(metrics) and data["regressions"] == []
    assert all("verdict" in m and "change_pct" in m for m in data["overall"])


def test_findings_keep_their_figures_in_the_store(loadlens: LoadlensRunner, tmp_path: Path) -> None:
    """A dead port's finding, with its data, read back from the store by id."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = loadlens.run(f"http://127.0.0.1:{port}/", "-u", "2", "-i", "3")
    result = check_result(run.result)
    shown = json.loads(_cli(loadlens, "report", result["id"], "--json").stdout)
    finding = shown["findings"][0]
    assert finding["id"] == "target-unreachable"
    assert finding["data"] == {
        "addresses": [f"127.0.0.1:{port}"],
        "requests": 6,
        "errors": {"connect-refused": 6},
        "kind": "connect-refused",
    }
