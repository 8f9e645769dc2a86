"""`--monitor` specs read into one record, and monitors that cannot start refused, without
click and without a load."""

from __future__ import annotations

import contextlib
import os
import socket

import pytest

from loadlens.monitoring.monitor_specs import (
    Monitoring,
    MonitorSpecError,
    MonitorStartError,
    build_monitors,
    parse_monitoring,
)

pytestmark = pytest.mark.timeout(30)


def test_each_kind_of_spec_lands_in_its_place() -> None:
    watch = parse_monitoring(
        [
            "host",
            "agent://10.0.0.5:9400/",
            "postgresql://app:pw@db:5432/shop",
            "postgres://db/shop",
            "postgresql+psycopg://db/shop",
            "prometheus://10.0.0.5:9100/metrics?series=up",
            "dbstats+http://127.0.0.1:8091/stats",
            "dbstats+https://stats.example/x",
        ],
        server="./serve",
        pids=(42,),
        names=("gunicorn",),
        agent_token="t0k",
    )
    assert watch == Monitoring(
        server="./serve",
        pids=(42,),
        names=("gunicorn",),
        host=True,
        agents=("10.0.0.5:9400",),  # the scheme and a trailing slash dropped
        agent_token="t0k",
        databases=(
            "postgresql://app:pw@db:5432/shop",
            "postgres://db/shop",
            "postgresql+psycopg://db/shop",
        ),
        scrapes=(
            "prometheus://10.0.0.5:9100/metrics?series=up",
            "dbstats+http://127.0.0.1:8091/stats",
            "dbstats+https://stats.example/x",
        ),
    )


def test_no_specs_watch_nothing() -> None:
    assert parse_monitoring([]) == Monitoring()
    assert not parse_monitoring(["prometheus://h:1/m"]).host


@pytest.mark.parametrize("spec", ["bogus", "http://h:9100/metrics", "HOST", "mysql://db"])
def test_a_spec_it_cannot_read_names_what_it_expects(spec: str) -> None:
    with pytest.raises(MonitorSpecError) as caught:
        parse_monitoring(["host", spec])
    assert str(caught.value) == (
        f"--monitor {spec!r}: expected host, agent://HOST:PORT, postgresql://..., "
        "prometheus://HOST:PORT/metrics or dbstats+http://HOST:PORT/PATH"
    )


@pytest.mark.parametrize("token", [None, ""])
def test_an_agent_needs_its_token(token: str | None) -> None:
    with pytest.raises(MonitorSpecError) as caught:
        parse_monitoring(["agent://10.0.0.5:9400"], agent_token=token)
    assert str(caught.value) == (
        "--monitor agent://...: give --agent-token (or LOADLENS_AGENT_TOKEN)"
    )


def test_nothing_asked_builds_an_empty_set() -> None:
    with contextlib.ExitStack() as stack:
        assert not build_monitors(Monitoring(), "http://127.0.0.1:9/", stack)


def test_a_pid_that_is_not_running_is_refused() -> None:
    gone = _a_pid_not_running()
    with contextlib.ExitStack() as stack, pytest.raises(MonitorStartError) as caught:
        build_monitors(Monitoring(pids=(os.getpid(), gone)), "", stack)
    assert str(caught.value) == f"--monitor-pid {gone}: no such process"


def test_a_process_name_nothing_matches_is_refused() -> None:
    with contextlib.ExitStack() as stack, pytest.raises(MonitorStartError) as caught:
        build_monitors(Monitoring(names=("no-such-process-xyzzy",)), "", stack)
    assert str(caught.value) == (
        "--monitor-process 'no-such-process-xyzzy': no running process matches it"
    )


def test_an_agent_that_does_not_answer_is_refused() -> None:
    port = _a_closed_port()
    watch = parse_monitoring([f"agent://127.0.0.1:{port}"], agent_token="t")
    with contextlib.ExitStack() as stack, pytest.raises(MonitorStartError) as caught:
        build_monitors(watch, "", stack)
    assert str(caught.value).startswith(f"--monitor agent://127.0.0.1:{port}: ")


@pytest.mark.parametrize(
    ("options", "message"),
    [("?tls=yes&verify=0", "expected agent://HOST:PORT, then ?tls=1 and &ca=FILE if it serves "
                           "HTTPS (verify?)"),
     ("?tls=1&ca=/no/such/ca.pem", "ca=/no/such/ca.pem: not a readable CA file")],
)  # fmt: skip
def test_agent_options_that_cannot_work_are_refused(options: str, message: str) -> None:
    watch = parse_monitoring([f"agent://127.0.0.1:9400{options}"], agent_token="t")
    with contextlib.ExitStack() as stack, pytest.raises(MonitorStartError) as caught:
        build_monitors(watch, "", stack)
    assert str(caught.value).startswith(f"--monitor agent://127.0.0.1:9400{options}: {message}")


def _a_pid_not_running() -> int:
    pid = 4_000_000  # above the kernel's pid_max (4194304 at most) less a margin
    while os.path.exists(f"/proc/{pid}"):
        pid += 1
    return pid


def _a_closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the with block ends
