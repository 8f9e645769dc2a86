"""The generator's view of its machine, on real processes: who else used the CPU, and how
long a busy thread waited for one."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from loadlens.engine.health import RunQueueMeter
from loadlens.engine.machine_watch import MachineProbe, watch_machine
from loadlens.metrics.run_outcome import MachineReport

HOG = "import time\nend = time.monotonic() + 20\nwhile time.monotonic() < end: pass\n"


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def _watch(seconds: float, spin: bool = False) -> MachineReport:
    """What the probe reports over `seconds`, sampled by a MonitorSet as in a run."""
    watch = watch_machine(own_pids=[])
    watch.start(time.monotonic_ns())
    _spin(seconds) if spin else time.sleep(seconds)
    watch.stop()
    return MachineReport.from_monitor(watch.results()[MachineProbe.name])


@pytest.mark.slow
def test_the_watch_names_a_busy_process_and_leaves_loadlens_out() -> None:
    hog = subprocess.Popen([sys.executable, "-c", HOG])
    try:
        report = _watch(2.3)
    finally:
        hog.kill()
        hog.wait()
    assert len(report.seconds) == 2, report.seconds
    top = report.contenders[0]
    assert top["pid"] == hog.pid and top["name"].endswith("(-c)"), report.contenders
    assert top["cpu_percent"] > 50, report.contenders
    assert os.getpid() not in {c["pid"] for c in report.contenders}
    for second in report.seconds:  # the hog is a whole core of the machine's
        assert second.others_cpu_percent >= 100 / (os.cpu_count() or 1) * 0.6, second
        assert second.host_cpu_percent >= second.others_cpu_percent
    assert 0 < report.cpu_ms < 500


@pytest.mark.slow
def test_our_own_cpu_is_not_counted_as_others() -> None:
    """The coordinator burning a core itself: the machine is busy, but not with others."""
    report = _watch(2.2, spin=True)
    busy = [s for s in report.seconds if s.host_cpu_percent > 30]
    assert busy, report.seconds
    for second in busy:
        assert second.others_cpu_percent < second.host_cpu_percent / 2, second


@pytest.mark.skipif(not os.path.exists("/proc/thread-self/schedstat"), reason="Linux schedstat")
def test_run_queue_delay_grows_when_another_process_holds_the_core() -> None:
    core = min(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    hog = subprocess.Popen(["taskset", "-c", str(core), sys.executable, "-c", HOG])
    try:
        time.sleep(0.2)
        # This (main) thread only, on the hog's core, as a worker's loop runs on its main
        # thread: the involuntary switches are counted for it.
        os.sched_setaffinity(0, {core})
        meter = RunQueueMeter()
        _spin(1.0)
        waited, preempted = meter.read()
    finally:
        hog.kill()
        hog.wait()
        os.sched_setaffinity(0, before)
    assert waited is not None and waited > 200, waited  # ms per second: about half of it
    assert preempted > 0
