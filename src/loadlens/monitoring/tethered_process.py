"""Servers that loadlens starts and that cannot outlive it, however loadlens ends.

A server runs in a session of its own (a terminal's Ctrl-C reaches loadlens alone, which
then stops it in order), so nothing would stop it if loadlens were SIGKILLed, crashed, or
exited without its cleanup. Two things tie it to loadlens:

- the kernel's parent-death signal (`die_with_parent`, Linux's PR_SET_PDEATHSIG): the
  server itself gets its stop signal the moment loadlens dies;
- a watchdog (`tether_watchdog.py`, a few MB of the stdlib alone) that sees loadlens go
  and stops the server's whole process group, as `stop` does: the stop signal, then
  SIGKILL after the grace period. It covers what the first cannot: what the server
  started (a shell's or `npm start`'s real server), a server that ignores its signal,
  and systems without PR_SET_PDEATHSIG.

Servers that would daemonise or re-parent themselves (postgres via pg_ctl, nginx's master)
must run in the foreground, as direct children: the tether holds only what loadlens
started itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import pwd
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["TetheredProcess", "die_with_parent", "run_as"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_WATCHDOG = Path(__file__).with_name("tether_watchdog.py")


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    with contextlib.suppress(OSError, AttributeError):
        prctl: Callable[..., int] = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl
        return prctl
    return None


# Looked up here, in the parent: the child between fork and exec should do as little as
# it can (another thread of the parent may have held a lock at the fork).
_prctl = _load_prctl()


def die_with_parent(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` that has the child get `signum` when loadlens dies (None: no way here).

    The kernel sends it when the *thread* that started the child ends, not the process:
    so it is only set up from the main thread (whose end is loadlens's end). Started from
    another thread, a child has the watchdog alone. The check of the parent after the
    prctl covers a loadlens that died between the fork and the prctl.
    """
    if _prctl is None or threading.current_thread() is not threading.main_thread():
        return None
    prctl, parent = _prctl, os.getpid()

    def tie() -> None:
        prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signum)

    return tie


def run_as(user: str | None) -> dict[str, Any]:
    """Popen's arguments to run as `user` (None: as loadlens), with its group and its
    supplementary groups (user= alone would keep root's)."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    groups = os.getgrouplist(user, entry.pw_gid)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": groups}


class TetheredProcess:
    """A server process started in a session of its own, stopped as a group, tied to loadlens.

    Start it from the main thread (see `die_with_parent`). `stop` is the way it ends:
    the stop signal to its group, SIGKILL to what is left after `grace` seconds.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        stop_signal: int = signal.SIGTERM,
        grace: float = 5.0,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        stdout: int | IO[bytes] | None = None,
        stderr: int | IO[bytes] | None = None,
    ) -> None:
        self._stop_signal = stop_signal
        self._grace = grace
        self._stopped = False
        self.process: subprocess.Popen[bytes] = subprocess.Popen(  # (OSError: not started)
            list(argv), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
            start_new_session=True,  # its own group: stopped as a whole, not by our Ctrl-C
            env=dict(env) if env is not None else None, cwd=cwd,
            preexec_fn=die_with_parent(stop_signal), **run_as(user),
        )  # fmt: skip
        try:
            self._watchdog: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-I", "-S", str(_WATCHDOG), str(os.getpid()),
                 str(self.process.pid), str(int(stop_signal)), str(grace)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                start_new_session=True,  # out of the server's group and of our terminal's
            )  # fmt: skip
        except BaseException:
            self.stop()  # (a Ctrl-C or an OSError here must not leave the server behind)
            raise

    @property
    def pid(self) -> int:
        """The server's process id (its group's and session's too)."""
        return self.process.pid

    def poll(self) -> int | None:
        """Its exit code if it has exited, else None."""
        return self.process.poll()

    def stop(self) -> None:
        """The stop signal to its whole group, SIGKILL after the grace period; the watchdog
        stood down. Safe to call more than once."""
        if self._stopped:
            return
        self._stopped = True
        process = self.process
        # The whole group, even when its first process has exited: children it started
        # (a shell's server) would go on serving.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, self._stop_signal)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=self._grace)
        # Until the leader is reaped (below) its pid, the group's id, cannot be reused: this
        # SIGKILL reaches what is left of the group, nothing else.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        watchdog = getattr(self, "_watchdog", None)
        if watchdog is not None:
            watchdog.kill()
            watchdog.wait()
        process.wait()
