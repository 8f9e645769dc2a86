"""A target's process tree, measured with real processes: short-lived children's CPU counts
once; a started server's output is kept bounded, its last lines shown when it fails."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from loadlens.monitoring.host_probe import HostProbe
from loadlens.monitoring.managed_server import ManagedServer, ServerError
from loadlens.monitoring.process_probe import ProcessTreeProbe

pytestmark = pytest.mark.timeout(30)

# Each child burns `cpu` seconds of its own CPU time (start-up included) and exits; the
# parent runs them one after the other, then prints the CPU time it and its children used
# (os.times(), the kernel's own account) and waits, so a last sample sees it all reaped.
_PARENT = """
import os, subprocess, sys
burn = "import time\\nwhile time.process_time() < {cpu}: pass"
argv = {argv!r} + [burn]
print("ready", flush=True)
sys.stdin.readline()
before = sum(os.times()[:4])
for _ in range({count}):
    subprocess.run(argv, check=True)
print(sum(os.times()[:4]) - before, flush=True)
sys.stdin.readline()
"""


def _cpu_seen(argv: list[str], cpu: float, count: int, period: float) -> tuple[float, float]:
    """CPU seconds the probe saw over the parent's run, sampling every `period` s, and the
    CPU seconds the kernel says the parent and its children used."""
    script = _PARENT.format(cpu=cpu, argv=argv, count=count)
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert parent.stdin is not None and parent.stdout is not None
    try:
        assert parent.stdout.readline() == b"ready\n"
        probe = ProcessTreeProbe([parent.pid])
        probe.start()
        last = time.monotonic()
        parent.stdin.write(b"go\n")
        parent.stdin.flush()
        seen = 0.0
        deadline = last + 20
        while time.monotonic() < deadline:
            done = select.select([parent.stdout], [], [], period)[0]
            now = time.monotonic()
            seen += probe.sample()["cores"] * (now - last)
            last = now
            if done:
                return seen, float(parent.stdout.readline())
        raise AssertionError("the parent did not finish")
    finally:
        parent.kill()
        parent.wait()


@pytest.mark.parametrize(
    ("argv", "cpu", "count"),
    [
        # Each child lives and dies between two samples: no sample sees most of them.
        ([sys.executable, "-c"], 0.1, 10),
        # Each child spans samples: counted while alive, then reaped into the parent's
        # children_* fields, and must not be counted again.
        ([sys.executable, "-c"], 0.7, 2),
        # The parent's children are shells, whose own child burns: CPU reaped two levels down.
        (["sh", "-c", f'"{sys.executable}" -c "$0"; true'], 0.1, 8),
    ],
    ids=["children-between-samples", "children-across-samples", "grandchildren"],
)
def test_the_cpu_of_exited_children_counts_once(argv: list[str], cpu: float, count: int) -> None:
    seen, used = _cpu_seen(argv, cpu, count, period=0.4)
    assert used >= cpu * count * 0.9  # the children did burn it
    # Clock ticks (10 ms) per process, and the parent's own start of each child.
    assert abs(seen - used) <= 0.05 + 0.1 * used, (seen, used)


# Writes about 8 MB of numbered lines, then its last words; then listens on the port, exits
# with 3, or hangs, as told.
_NOISY = """
import socket, sys, time
port, then = int(sys.argv[1]), sys.argv[2]
for i in range(100_000):
    print(f"line {i} " + "x" * 72)
print("last words", flush=True)
if then == "exit":
    sys.exit(3)
if then == "listen":
    server = socket.create_server(("127.0.0.1", port))
time.sleep(60)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _noisy_server(tmp_path: Path, then: str, ready_timeout: float = 10.0) -> ManagedServer:
    script = tmp_path / "noisy.py"
    script.write_text(_NOISY)
    port = _free_port()
    return ManagedServer(
        f"{sys.executable} {script} {port} {then}", f"http://127.0.0.1:{port}/", ready_timeout
    )


@pytest.mark.parametrize(("then", "message"), [("exit", "exited with 3"), ("hang", "within 1 s")])
def test_a_failed_servers_last_lines_are_shown_from_bounded_memory(
    tmp_path: Path, then: str, message: str
) -> None:
    server = _noisy_server(tmp_path, then, ready_timeout=1.0)
    tracemalloc.start()
    try:
        with pytest.raises(ServerError) as failed:
            server.start()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        server.stop()
    text = str(failed.value)
    assert message in text
    assert text.endswith("line 99999 " + "x" * 72 + "\nlast words")
    assert "line 99986 " in text and "line 99985 " not in text  # the last 15 lines
    assert peak < 2**20  # of the 8 MB it wrote


def test_a_chatty_server_is_drained_and_its_output_not_stored(tmp_path: Path) -> None:
    server = _noisy_server(tmp_path, "listen")
    tracemalloc.start()
    try:
        server.start()  # 8 MB before it listens: a pipe nobody read would block it at 64 KiB
        peak = tracemalloc.get_traced_memory()[1]
        if os.path.isdir(f"/proc/{server.pid}/fd"):
            assert os.readlink(f"/proc/{server.pid}/fd/1").startswith("pipe:")  # not a file
    finally:
        tracemalloc.stop()
        server.stop()
    assert peak < 2**20


def test_the_host_s_loadlens_share_leaves_out_a_target_in_its_own_group() -> None:
    """A target loadlens starts (--server) is its child, but not loadlens's own CPU."""
    burner = subprocess.Popen(
        [sys.executable, "-c", "import time\nend = time.time() + 3\nwhile time.time() < end: pass"],
        start_new_session=True,  # as managed_server starts a target
    )
    try:
        probe = HostProbe()
        probe.start()
        time.sleep(1.5)
        sample = probe.sample()
    finally:
        burner.kill()
        burner.wait()
    # The burner takes a core (half of this 2-core machine); loadlens here only sleeps.
    assert sample["cpu_percent"] >= 100 / (os.cpu_count() or 1) * 0.6, sample
    assert sample["loadlens_cpu_percent"] < 10, sample
