"""Files with a run's data are the owner's alone, written whole, and never through a link."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from loadlens.private_files import (
    DestinationError,
    check_destination,
    loadlens_home,
    private_folder,
    why_not_written,
    write_private,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_new_file_is_written_whole_and_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new" / "result.json"
    write_private(path, '{"a": 1}\n')
    assert path.read_text() == '{"a": 1}\n'
    assert _mode(path) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["result.json"]  # no temp left


def test_a_regular_file_is_replaced_and_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, b"new")
    assert path.read_bytes() == b"new" and _mode(path) == 0o600


def test_a_link_at_the_destination_is_refused_and_what_it_points_to_untouched(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "out.json"
    link.symlink_to(victim)
    with pytest.raises(DestinationError, match=r"is a symbolic link .*does not write through"):
        write_private(link, "overwritten")
    assert victim.read_text() == "precious"
    assert link.is_symlink()
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "nowhere" / "x")
    with pytest.raises(DestinationError):
        write_private(dangling, "x")
    assert not (tmp_path / "nowhere").exists()


def test_something_other_than_a_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(DestinationError, match="not a regular file"):
        check_destination(fifo)
    check_destination(tmp_path / "absent.json")  # nothing there yet: fine


def test_loadlens_home_is_made_and_narrowed_to_its_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    home = loadlens_home()
    assert home == tmp_path / ".loadlens" and _mode(home) == 0o700
    home.chmod(0o755)  # as an older loadlens left it
    assert _mode(loadlens_home()) == 0o700


def test_a_folder_that_exists_keeps_its_mode_and_a_file_is_not_a_folder(tmp_path: Path) -> None:
    shared = tmp_path / "reports"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    assert private_folder(shared) == shared and _mode(shared) == 0o755
    assert _mode(private_folder(tmp_path / "fresh")) == 0o700
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError) as raised:
        private_folder(tmp_path / "file")
    assert why_not_written(raised.value) == f"not a folder: {tmp_path / 'file'}"
