"""Files that hold a run's data: readable by their owner only, never written through a link.

A result, a report or the run store can name hosts, endpoints and tags a team would not
publish, so loadlens writes them 0600 (directories of its own 0700), whatever the umask.
A file is written whole to a temporary file in the same directory and renamed over the
destination: a reader never sees half a file, and the rename replaces whatever sits at
the path instead of writing through it. A symbolic link at the destination is refused
rather than replaced: following it would write wherever it points (an attacker's link in
a shared directory), and silently replacing it would break a link the user made on purpose.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

__all__ = [
    "FILE_MODE",
    "FOLDER_MODE",
    "LOADLENS_HOME",
    "DestinationError",
    "check_destination",
    "loadlens_home",
    "narrow",
    "private_folder",
    "why_not_written",
    "write_private",
]

FILE_MODE = 0o600
FOLDER_MODE = 0o700
LOADLENS_HOME = Path("~/.loadlens")  # the run store, results kept when the store failed


class DestinationError(OSError):
    """A path loadlens will not write to: a symbolic link, or not a regular file."""


def check_destination(path: Path) -> None:
    """Refuse a path that is a symbolic link or something other than a regular file."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise DestinationError(
            f"{path} is a symbolic link (to {os.readlink(path)}); loadlens does not write "
            "through links: remove it or choose another path"
        )
    if not stat.S_ISREG(mode):
        raise DestinationError(f"{path} exists and is not a regular file")


def private_folder(path: Path) -> Path:
    """The folder, made 0700 if it is new (a folder that exists keeps its mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=FOLDER_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(path)) from None
    return path


def loadlens_home() -> Path:
    """~/.loadlens, made (or narrowed to) 0700: it is loadlens's own, and holds every run."""
    home = private_folder(LOADLENS_HOME.expanduser())
    narrow(home, FOLDER_MODE)
    return home


def narrow(path: Path, mode: int) -> None:
    """Take away any permission beyond `mode` from a file or folder we own (older
    loadlens versions left ~/.loadlens 0755 and runs.db 0644)."""
    status = os.stat(path)
    if status.st_uid == os.getuid() and stat.S_IMODE(status.st_mode) & ~mode:
        os.chmod(path, stat.S_IMODE(status.st_mode) & mode)


def write_private(path: Path, data: str | bytes) -> None:
    """Write the file whole and 0600, creating its folder; raises DestinationError for a
    link or a non-file at `path`, OSError for anything else that fails."""
    check_destination(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp makes the file 0600 with O_EXCL: nothing else can have put a link there.
    fd, temporary = tempfile.mkstemp(prefix=".loadlens-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())  # the rename must not land before the bytes it names
        # A link made since the first check is replaced by the rename, never followed.
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def why_not_written(error: OSError) -> str:
    """An OSError as a person reads it: `Permission denied: x`, not `[Errno 13] ...`."""
    if isinstance(error, DestinationError) or not error.strerror:
        return str(error)
    return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
