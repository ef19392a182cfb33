"""Whole-or-absent files: a write that fails leaves the old file and no stray temporary."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from scoring.durable import atomic_path, write_atomically


def test_a_write_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "aliases.json"
    write_atomically(target, b"old")
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["aliases.json"]


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    target = tmp_path / "aliases.json"
    write_atomically(target, b'{"champion": 1}')

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    if failing == "fsync":
        monkeypatch.setattr(os, "fsync", broken_fsync)

    def write_half() -> None:
        with atomic_path(target) as temporary:
            temporary.write_bytes(b'{"champion": 2, "can')  # half of what was meant
            if failing == "write":
                raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_half()
    assert target.read_bytes() == b'{"champion": 1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aliases.json"]


def test_concurrent_writers_of_one_file_never_share_a_temporary(tmp_path: Path) -> None:
    target = tmp_path / "aliases.json"
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first != second
        assert first.name.startswith(".")
        assert second.name.startswith(".")
        first.write_bytes(b"1")
        second.write_bytes(b"2")
    assert target.read_bytes() == b"1"  # the outer block ends last, and wins


def test_the_new_name_is_synced_to_disk_before_the_write_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rename lives in the folder: until the folder is synced, a power cut can undo it."""
    target = tmp_path / "aliases.json"
    synced: list[tuple[bool, bytes | None]] = []
    real_fsync = os.fsync

    def watching_fsync(fd: int) -> None:
        is_folder = stat.S_ISDIR(os.fstat(fd).st_mode)
        synced.append((is_folder, target.read_bytes() if target.exists() else None))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", watching_fsync)
    write_atomically(target, b"new")
    # The bytes first (under the temporary name), then the folder holding the new name.
    assert synced == [(False, None), (True, b"new")]
