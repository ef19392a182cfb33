"""Files read again only when they change, so that every scrape may look at them for a few stats.

A change is seen in a file's inode, modification time and size. A file whose time is under a
second old may change again within the same tick of the file system's clock, its time
unchanged: it is read again on every look until it has settled.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

SETTLE_NS = 1_000_000_000
"""How old a file's modification time must be before an unchanged time means unchanged."""

Signature = tuple[int, int, int]


def _signature(path: Path) -> tuple[Signature, bool] | None:
    """The file's (inode, mtime, size) and whether its time has settled; None if absent."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    settled = time.time_ns() - st.st_mtime_ns >= SETTLE_NS
    return (st.st_ino, st.st_mtime_ns, st.st_size), settled


class WatchedFile(Generic[T]):
    """One file's parsed content, parsed again only when the file changed."""

    def __init__(self, path: Path, parse: Callable[[bytes], T]) -> None:
        self.path = path
        self._parse = parse
        self._seen: Signature | None = None
        self._value: T | None = None

    def read(self) -> T | None:
        """The content as ``parse`` made it; None while absent or not parseable (logged once)."""
        found = _signature(self.path)
        if found is None:
            self._seen, self._value = None, None
            return None
        signature, settled = found
        if signature == self._seen:
            return self._value
        try:
            self._value = self._parse(self.path.read_bytes())
        except (OSError, ValueError) as exc:
            log.warning("cannot read %s: %s", self.path, exc)
            self._value = None
        self._seen = signature if settled else None
        return self._value


@dataclass(frozen=True)
class Listing:
    """The names in a folder: its files and its subfolders."""

    files: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()


class WatchedFolder:
    """One folder's listing, listed again only when the folder changed (an entry came or went)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: Signature | None = None
        self._listing = Listing()

    def read(self) -> Listing:
        """The names in the folder, sorted; empty while it does not exist."""
        found = _signature(self.path)
        if found is None:
            self._seen, self._listing = None, Listing()
            return self._listing
        signature, settled = found
        if signature == self._seen:
            return self._listing
        files: list[str] = []
        folders: list[str] = []
        try:
            with os.scandir(self.path) as entries:
                for entry in entries:
                    (folders if entry.is_dir() else files).append(entry.name)
        except OSError as exc:
            log.warning("cannot list %s: %s", self.path, exc)
        self._listing = Listing(tuple(sorted(files)), tuple(sorted(folders)))
        self._seen = signature if settled else None
        return self._listing


class AppendedLines:
    """The complete lines appended to a file since the last look (all of them if it was replaced).

    For append-only files: a look at an unchanged file reads nothing, a grown one only what
    grew. A line not yet ended (being written, or cut short by a crash) waits for its newline.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._inode: int | None = None
        self._offset = 0

    def read(self) -> tuple[bool, list[bytes]]:
        """Whether the file was replaced (so earlier lines are void), and the new lines."""
        try:
            st = os.stat(self.path)
        except OSError:
            restarted = self._inode is not None
            self._inode, self._offset = None, 0
            return restarted, []
        restarted = st.st_ino != self._inode or st.st_size < self._offset
        if restarted:
            self._inode, self._offset = st.st_ino, 0
        if st.st_size == self._offset:
            return restarted, []
        try:
            with open(self.path, "rb") as file:
                file.seek(self._offset)
                grown = file.read()
        except OSError as exc:
            log.warning("cannot read %s: %s", self.path, exc)
            return restarted, []
        complete = grown.rfind(b"\n") + 1
        self._offset += complete
        return restarted, grown[:complete].splitlines()
