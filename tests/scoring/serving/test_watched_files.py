"""Files read again only when they change: an unchanged file costs a stat, not a parse."""

from __future__ import annotations

import os
import time
from pathlib import Path

from scoring.serving.watched_files import AppendedLines, WatchedFile, WatchedFolder

AN_HOUR_AGO_NS = time.time_ns() - 3600 * 1_000_000_000


def age(path: Path, ns: int = AN_HOUR_AGO_NS) -> None:
    """Set the file's times in the past, as if it had settled long ago."""
    os.utime(path, ns=(ns, ns))


class Parses:
    """A parser that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, content: bytes) -> str:
        self.calls += 1
        if content.startswith(b"!"):
            raise ValueError("not the format")
        return content.decode()


def test_a_settled_file_is_parsed_again_only_once_it_changed(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_bytes(b"one")
    age(path)
    parse = Parses()
    watched = WatchedFile(path, parse)
    assert watched.read() == "one"
    assert watched.read() == "one"
    assert parse.calls == 1
    # Same size, same inode: only the time tells the change.
    path.write_bytes(b"two")
    age(path, AN_HOUR_AGO_NS + 1)
    assert watched.read() == "two"
    assert parse.calls == 2
    path.unlink()
    assert watched.read() is None


def test_a_file_changed_within_the_last_second_is_parsed_on_every_look(tmp_path: Path) -> None:
    """Its time may not move on a second change within the file system clock's tick."""
    path = tmp_path / "report.json"
    path.write_bytes(b"one")
    parse = Parses()
    watched = WatchedFile(path, parse)
    assert watched.read() == "one"
    stat = os.stat(path)
    path.write_bytes(b"two")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the tick did not move
    assert watched.read() == "two"


def test_an_unparseable_file_reads_as_none_until_fixed(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_bytes(b"!bad")
    age(path)
    watched = WatchedFile(path, Parses())
    assert watched.read() is None
    path.write_bytes(b"good")
    assert watched.read() == "good"


def test_a_folder_is_listed_again_when_an_entry_comes_or_goes(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_bytes(b"")
    (tmp_path / "model").mkdir()
    age(tmp_path)
    folder = WatchedFolder(tmp_path)
    listing = folder.read()
    assert (listing.files, listing.folders) == (("b.json",), ("model",))
    (tmp_path / "a.json").write_bytes(b"")
    assert folder.read().files == ("a.json", "b.json")
    assert WatchedFolder(tmp_path / "absent").read().files == ()


def test_appended_lines_are_read_once_and_a_torn_line_waits(tmp_path: Path) -> None:
    path = tmp_path / "drift.jsonl"
    lines = AppendedLines(path)
    assert lines.read() == (False, [])
    path.write_bytes(b"a\nb\n")
    assert lines.read() == (True, [b"a", b"b"])
    assert lines.read() == (False, [])
    with open(path, "ab") as file:
        file.write(b"c\nd-half")
    assert lines.read() == (False, [b"c"])
    with open(path, "ab") as file:
        file.write(b"-end\n")
    assert lines.read() == (False, [b"d-half-end"])
    # Replaced (a new inode) or cut: every line again, and the caller starts over.
    replacement = tmp_path / "new.jsonl"
    replacement.write_bytes(b"x\n")
    replacement.replace(path)
    assert lines.read() == (True, [b"x"])
