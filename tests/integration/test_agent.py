"""`loadlens agent` on "another host" (here, another process): token, bounds, TLS, samples,
loss."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from loadlens.monitoring.agent_probe import AgentClient
from loadlens.monitoring.probe import ProbeGone
from support.cli import LoadlensRunner, _env, check_result
from support.target_server import TargetServer

pytestmark = pytest.mark.timeout(120)
TOKEN = "s3cret-agent-token"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Agent:
    """A `loadlens agent` process and its port."""

    process: subprocess.Popen[str]
    port: int
    stderr: str | None = None

    def stop(self) -> str:
        """Kill it (once) and return what it wrote to stderr."""
        if self.stderr is None:
            self.process.kill()
            self.stderr = self.process.communicate()[1]
        return self.stderr


def _start_agent(home: Path, *args: str) -> Agent:
    """`loadlens agent --token TOKEN ARGS` on a free port, once it listens."""
    port = _port()
    process = subprocess.Popen(
        [sys.executable, "-m", "loadlens", "agent", "--port", str(port), "--token", TOKEN, *args],
        env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # Its first line says it listens. (Probing the port with a connection instead would
    # take one of the connections some tests count.)
    assert process.stdout is not None and process.stdout.readline(), process.communicate()
    return Agent(process, port)


@pytest.fixture
def agent(loadlens: LoadlensRunner) -> Iterator[Agent]:
    """An agent reporting this host, on a free port."""
    agent = _start_agent(loadlens.home)
    yield agent
    agent.stop()


@pytest.fixture
def busy_agent(loadlens: LoadlensRunner) -> Iterator[Agent]:
    """An agent reporting this host and a busy process."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    agent = _start_agent(loadlens.home, "--pid", str(busy.pid))
    yield agent
    agent.stop()
    busy.kill()
    busy.wait()


def _get(port: int, token: str | None, scheme: str = "http") -> int:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    request = urllib.request.Request(f"{scheme}://127.0.0.1:{port}/v1/sample", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code


def test_the_agent_refuses_a_request_without_the_right_token(
    agent: Agent,
) -> None:
    port = agent.port
    assert _get(port, None) == 401
    assert _get(port, "wrong") == 401
    assert _get(port, TOKEN[:-1]) == 401
    assert _get(port, TOKEN + "x") == 401
    assert _get(port, TOKEN) == 200


@pytest.mark.parametrize("token", ["", "short", "fifteen-chars-x", "sixteen chars ok"])
def test_an_empty_short_or_spaced_token_is_refused_at_start(
    loadlens: LoadlensRunner, token: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "loadlens", "agent", "--port", str(_port()), "--token", token],
        env=_env(loadlens.home), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2, proc
    assert "--token" in proc.stderr and "secrets.token_urlsafe" in proc.stderr, proc.stderr
    assert token == "" or token not in proc.stderr  # a refused secret is not echoed
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("library", ["uvicorn", "starlette"])
def test_without_the_agent_extra_the_agent_says_what_to_install(
    loadlens: LoadlensRunner, library: str
) -> None:
    # As if it were not installed: an import of it fails as a missing module's does.
    hide = f"import sys; sys.modules[{library!r}] = None; from loadlens.cli import main; main()"
    proc = subprocess.run(
        [sys.executable, "-c", hide, "agent", "--port", str(_port()), "--token", TOKEN],
        env=_env(loadlens.home), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2, proc
    assert f"this needs '{library}" in proc.stderr  # (a blocked submodule: 'starlette.x')
    assert "which is not installed: pip install 'loadlens[agent]'" in proc.stderr


def test_a_port_in_use_is_refused_at_start(loadlens: LoadlensRunner) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "loadlens", "agent", "--port", str(port), "--token", TOKEN],
            env=_env(loadlens.home), capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert proc.returncode == 2, proc
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use)" in proc.stderr


def _sockets_of(pid: int) -> int:
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir() if os.readlink(fd).startswith("socket:"))


def _threads_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Threads:")).split()[1])


def _open_files_at_least(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        assert hard >= wanted, f"the hard limit on open files ({hard}) is below {wanted}"
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _still_open(sock: socket.socket) -> bool:
    """True while the peer has neither closed nor reset it (and sent nothing)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def test_the_agent_holds_1000_idle_connections_on_one_thread_and_still_answers(
    agent: Agent,
) -> None:
    process, port = agent.process, agent.port
    _open_files_at_least(1200)
    idle = []
    try:
        for _ in range(1000):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        for _ in range(200):  # until the agent has accepted them all
            if _sockets_of(process.pid) >= 1001:  # theirs and its listening socket
                break
            time.sleep(0.05)
        assert _sockets_of(process.pid) >= 1001
        assert _get(port, TOKEN) == 200
        assert _get(port, "wrong-but-long-enough") == 401
        # One event loop: no thread per connection (the old server had 1,001 here).
        assert _threads_of(process.pid) <= 4
        assert all(_still_open(s) for s in idle)  # held, not dropped to make room
    finally:
        for s in idle:
            s.close()


def _closed_after(sock: socket.socket, opened: float, trickle: bytes = b"") -> float:
    """Seconds from `opened` until the agent closes `sock` (sent `trickle` a byte per
    0.1 s meanwhile)."""
    sock.settimeout(0.1)
    for i in range(100):
        try:
            if sock.recv(4096) == b"":
                break
        except TimeoutError:
            pass
        except OSError:  # reset
            break
        if i < len(trickle):
            try:
                sock.send(trickle[i : i + 1])
            except OSError:
                break
    return time.monotonic() - opened


def test_a_connection_that_does_not_send_a_whole_request_in_time_is_closed(
    loadlens: LoadlensRunner,
) -> None:
    agent = _start_agent(loadlens.home, "--request-timeout", "1")
    address = ("127.0.0.1", agent.port)
    head = f"GET /v1/sample HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    try:
        opened = time.monotonic()
        with (
            socket.create_connection(address) as slowloris,  # its head a byte per 0.1 s
            socket.create_connection(address) as idle,
            socket.create_connection(address) as prompt,
        ):
            # Stays quiet for a request sent whole: answered, then given 1 s for the next.
            prompt.sendall(head.encode())
            prompt.settimeout(2)
            assert prompt.recv(4096).startswith(b"HTTP/1.1 200 ")
            answered = time.monotonic()
            assert 0.8 < _closed_after(slowloris, opened, head.encode()) < 2.5
            assert 0.8 < _closed_after(idle, opened) < 2.5
            assert 0.8 < _closed_after(prompt, answered) < 2.5
    finally:
        agent.stop()


def test_a_request_head_still_incomplete_after_16_kib_is_refused(agent: Agent) -> None:
    with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as sock:
        sock.sendall(b"GET /v1/info HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 10_000)
        time.sleep(0.1)  # two reads: the first leaves the head incomplete
        sock.sendall(b"a" * 10_000)
        assert sock.recv(4096).startswith(b"HTTP/1.1 400 ")
    # Quiet below it: a 15 KiB head gets its answer (here, the token's refusal).
    with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as sock:
        sock.sendall(b"GET /v1/info HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 7_500)
        time.sleep(0.1)
        sock.sendall(b"a" * 7_500 + b"\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 401 ")


def test_connections_past_the_cap_are_closed_as_they_open(loadlens: LoadlensRunner) -> None:
    agent = _start_agent(loadlens.home, "--max-connections", "4")
    address = ("127.0.0.1", agent.port)
    held = [socket.create_connection(address) for _ in range(4)]
    try:
        opened = time.monotonic()
        with socket.create_connection(address) as extra:
            assert _closed_after(extra, opened) < 0.5
        assert all(_still_open(s) for s in held)
        held.pop().close()
        time.sleep(0.1)  # the agent sees it go
        assert _get(agent.port, TOKEN) == 200  # a place freed is taken again
    finally:
        for s in held:
            s.close()
        agent.stop()


def test_the_agent_raises_its_limit_on_open_files_to_fit_its_connection_cap(
    loadlens: LoadlensRunner,
) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard >= 2000, f"the hard limit on open files ({hard}) is below 2000"

    def low_soft_limit() -> None:  # the usual default is 1024; lower, to see it raised
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    port = _port()
    process = subprocess.Popen(
        [sys.executable, "-m", "loadlens", "agent", "--port", str(port), "--token", TOKEN,
         "--max-connections", "1500"],
        env=_env(loadlens.home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=low_soft_limit,
    )  # fmt: skip
    agent = Agent(process, port)
    try:
        assert process.stdout is not None and process.stdout.readline()
        limits = Path(f"/proc/{process.pid}/limits").read_text()
        soft = next(line for line in limits.splitlines() if line.startswith("Max open files"))
        assert int(soft.split()[3]) == 1500 + 64, soft
    finally:
        agent.stop()


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A CA's certificate, and a certificate and key it signed for 127.0.0.1 (trustme)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    paths = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca.cert_pem.write_to_path(str(paths[0]))
    cert.cert_chain_pems[0].write_to_path(str(paths[1]))
    cert.private_key_pem.write_to_path(str(paths[2]))
    return paths


def test_the_agent_serves_https_with_its_certificate(
    loadlens: LoadlensRunner, tls_files: tuple[Path, Path, Path]
) -> None:
    ca, cert, key = tls_files
    agent = _start_agent(loadlens.home, "--tls-cert", str(cert), "--tls-key", str(key))
    address = f"127.0.0.1:{agent.port}"
    try:
        client = AgentClient(f"{address}?tls=1&ca={ca}", TOKEN)
        assert client.base.startswith("https://")
        assert "host" in client.get("/v1/info")
        with pytest.raises(ProbeGone, match="the token was refused"):
            AgentClient(f"{address}?tls=1&ca={ca}", "wrong-but-long-enough").get("/v1/info")
        with pytest.raises(ProbeGone, match="TLS failed"):  # not signed by a CA it trusts
            AgentClient(f"{address}?tls=1", TOKEN).get("/v1/info")
        with pytest.raises(ProbeGone):  # plain HTTP gets no answer from it
            AgentClient(address, TOKEN).get("/v1/info")
    finally:
        stderr = agent.stop()
    assert "warning" not in stderr and TOKEN not in stderr


def test_the_agent_on_loopback_without_tls_does_not_warn(agent: Agent) -> None:
    stderr = agent.stop()
    assert "warning" not in stderr and "token: the one given" in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--tls-key", "{key}"], "--tls-key needs --tls-cert"),
     (["--tls-cert", "{key}"], "--tls-cert/--tls-key: cannot load them"),
     (["--tls-cert", "{cert}", "--tls-key", "{ca}"], "--tls-cert/--tls-key: cannot load them")],
)  # fmt: skip
def test_certificate_options_that_cannot_work_are_refused_at_start(
    loadlens: LoadlensRunner, tls_files: tuple[Path, Path, Path], args: list[str], message: str
) -> None:
    ca, cert, key = tls_files
    args = [a.format(ca=ca, cert=cert, key=key) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "loadlens", "agent", "--port", str(_port()), "--token", TOKEN,
         *args], env=_env(loadlens.home), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_a_run_monitors_through_the_agent_and_survives_losing_it(
    loadlens: LoadlensRunner, target_server: TargetServer, busy_agent: Agent
) -> None:
    process, port = busy_agent.process, busy_agent.port
    spec = f"agent://127.0.0.1:{port}"
    refused = loadlens.run(target_server.url("/ok"), "-u", "1", "-d", "1s", "--monitor", spec,
                           "--agent-token", "wrong")  # fmt: skip
    assert refused.returncode == 2 and "the token was refused" in refused.stderr

    began = time.monotonic()
    run_proc, out, cmd = loadlens.start(target_server.url("/ok"), "-u", "2", "-d", "5s",
                                        "--monitor", spec, "--agent-token", TOKEN)  # fmt: skip
    # The load starts once the monitors have (a busy machine can take seconds to get there);
    # then two samples or so before the agent goes.
    for _ in range(400):
        if target_server.requests_seen or run_proc.poll() is not None:
            break
        time.sleep(0.05)
    time.sleep(2.5)
    process.kill()  # the agent goes away mid-run
    run = loadlens.finish(run_proc, out, cmd, began, timeout=60)
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    assert result["totals"]["requests"] > 0 and result["totals"]["failures"] == 0
    target, host = result["monitors"]["target"], result["monitors"]["agent host"]
    assert "via agent" in target["target"] and target["kind"] == "process"
    assert target["timeline"] and max(p["cores"] for p in target["timeline"]) > 0.5  # the busy loop
    assert host["kind"] == "host" and host["timeline"]
    notes = target["notes"] + host["notes"]
    assert any("unreachable" in note for note in notes), result["monitors"]
