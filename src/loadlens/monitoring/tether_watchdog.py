"""The watchdog of one tethered server: stops the server's group when loadlens is gone.

`python -I -S tether_watchdog.py LOADLENS_PID GROUP SIGNAL GRACE`, started by
`TetheredProcess` beside the server, in a session of its own. It imports the stdlib alone
(run by path, never as part of the package) so it starts in milliseconds and holds a few
MB. While loadlens lives it only sleeps; loadlens stands it down with SIGKILL when it has
stopped the server itself. Should loadlens go first (SIGKILL, a crash, an exit without its
cleanup), this process is re-parented, and it sends SIGNAL to the server's whole group,
then SIGKILL to what is left after GRACE seconds.
"""

from __future__ import annotations

import os
import signal
import sys
import time

__all__ = ["main"]

_POLL_S = 0.2  # how soon loadlens's end is seen: a getppid() this often costs nothing


def _signal_group(group: int, signum: int) -> bool:
    """Send `signum` to the group; whether anything of it is left to signal."""
    try:
        os.killpg(group, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def main(argv: list[str]) -> int:
    """Wait for loadlens's end, then stop the server's group."""
    parent, group, signum, grace = int(argv[1]), int(argv[2]), int(argv[3]), float(argv[4])
    # A terminal's hang-up or Ctrl-C is not loadlens's end (and only loadlens stops this).
    for ignored in (signal.SIGINT, signal.SIGHUP):
        signal.signal(ignored, signal.SIG_IGN)
    # Compared with loadlens's pid, not with the first getppid(): loadlens may have died
    # before this line ran.
    while os.getppid() == parent:
        time.sleep(_POLL_S)
    if not _signal_group(group, signum):
        return 0
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if not _signal_group(group, 0):
            return 0
    _signal_group(group, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
