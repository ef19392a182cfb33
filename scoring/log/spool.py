"""A log writer's rows on disk from the moment they are appended until they are in Parquet.

The writer keeps rows in memory for up to a flush interval before it writes a Parquet file; a
worker killed in that time would lose rows it has already answered for. So every append is
also one ``write`` call to the writer's spool: the kernel keeps the bytes in its page cache
when the process dies (durable against a killed process, not against a machine crash: no
fsync on the request path). The spool is cut into segments, one per write round of the
writer; a segment's file is removed once every row in it is in a Parquet file.

Each writer holds an exclusive ``flock`` on its own lock file while it lives: the kernel lets
go when the process dies, however it dies, so a writer that can take another writer's lock
knows that writer is gone and may recover its segments. A record is framed by its length and
CRC-32, so a record a kill cut short ends the segment and is skipped: its request was never
answered.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import marshal
import os
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa

from scoring.log.batch import PendingBatch, SpoolCodec, arrow_table

log = logging.getLogger(__name__)

_FRAME = struct.Struct("<II")  # length, CRC-32 of the record
# The kinds of spool record: a codec's bytes, or the rows as an Arrow IPC stream.
_CODEC, _ARROW = "c", "a"
_SEGMENT = re.compile(r"^(?P<prefix>.+)-(?P<segment>\d{6,})\.spool$")


def segment_path(folder: Path, prefix: str, segment: int) -> Path:
    """The spool file of one segment of the writer named ``prefix``."""
    return folder / f"{prefix}-{segment:06d}.spool"


def lock_path(folder: Path, prefix: str) -> Path:
    """The file whose ``flock`` says the writer named ``prefix`` is alive."""
    return folder / f"{prefix}.lock"


def _take_lock(path: Path) -> int | None:
    """An open descriptor holding ``path``'s exclusive lock, or None if another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@dataclass
class HeldWriter:
    """A writer's lock this process holds (its own, or a dead writer's it is recovering)."""

    folder: Path
    prefix: str
    fd: int

    def segments(self) -> list[tuple[int, Path]]:
        """The writer's segment files still on disk, oldest first."""
        found = []
        for path in self.folder.glob(f"{glob_escape(self.prefix)}-*.spool"):
            match = _SEGMENT.match(path.name)
            if match and match["prefix"] == self.prefix:
                found.append((int(match["segment"]), path))
        return sorted(found)

    def release(self) -> None:
        """Let go of the lock; the lock file goes too once no segment of the writer is left."""
        if not self.segments():
            lock_path(self.folder, self.prefix).unlink(missing_ok=True)
        os.close(self.fd)


def glob_escape(text: str) -> str:
    """``text`` with glob's special characters matched literally."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def dead_writers(folder: Path, own: str) -> Iterator[HeldWriter]:
    """Writers whose lock no process holds any more; each comes with its lock, now ours."""
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.lock")):
        prefix = path.name.removesuffix(".lock")
        if prefix == own:
            continue
        try:
            fd = _take_lock(path)
        except FileNotFoundError:  # recovered and removed by another process meanwhile
            continue
        if fd is not None:
            yield HeldWriter(folder, prefix, fd)


def read_segment(path: Path) -> Iterator[bytes]:
    """The whole records of one segment file, in the order they were written."""
    data = path.read_bytes()
    offset = 0
    while offset + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, offset)
        start = offset + _FRAME.size
        record = data[start : start + length]
        if len(record) < length or zlib.crc32(record) != crc:
            log.warning("%s: a record cut short at byte %d ends the segment", path.name, offset)
            return
        yield record
        offset = start + length


class Spool:
    """The segments one writer appends its records to; see the module's docstring."""

    def __init__(self, folder: Path, prefix: str, header: bytes) -> None:
        self.folder = folder
        self.prefix = prefix
        self._header = _FRAME.pack(len(header), zlib.crc32(header)) + header
        """The first record of every segment: how its rows are cut into files."""
        self.segment = 1
        """The segment that records go to now."""
        self.errors = 0
        """Records that could not be spooled (their rows wait in memory only)."""
        self._held: HeldWriter | None = None
        self._fd: int | None = None
        self._size = 0

    def _open(self) -> None:
        """Create the folder and take this writer's lock: at the first record, so that a log
        that never takes a row leaves no folder behind."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = _take_lock(lock_path(self.folder, self.prefix))
        if fd is None:  # the prefix holds a random part: only a bug can get here
            raise RuntimeError(f"spool {self.prefix} is locked by another process")
        self._held = HeldWriter(self.folder, self.prefix, fd)

    def write(self, record: bytes) -> bool:
        """Append one record with one ``write`` call; False (and counted) if it failed."""
        frame = _FRAME.pack(len(record), zlib.crc32(record)) + record
        try:
            if self._held is None:
                self._open()
            if self._fd is None:
                path = segment_path(self.folder, self.prefix, self.segment)
                self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                self._size = 0
            if not self._size:
                frame = self._header + frame
            written = os.write(self._fd, frame)
            if written != len(frame):
                raise OSError(f"short write: {written} of {len(frame)} bytes")
        except OSError as exc:
            self.errors += 1
            if self.errors == 1 or self.errors % 1000 == 0:
                log.error("spool %s: cannot write (%d times so far): %s", self.prefix, self.errors,
                          exc)  # fmt: skip
            if self._fd is not None:
                # A part of the record may be in the file: cut it off so that the next
                # records are readable after it.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._size)
            return False
        self._size += written
        return True

    def seal(self) -> int:
        """End the current segment (later records go to the next one); its number."""
        sealed = self.segment
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.segment += 1
        return sealed

    def discard(self, segment: int) -> None:
        """Remove a segment whose rows are all in Parquet files."""
        segment_path(self.folder, self.prefix, segment).unlink(missing_ok=True)

    def close(self) -> None:
        """Close the current segment and let go of the lock (segments left wait for recovery)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._held is not None:
            self._held.release()
            self._held = None


class SpooledTable(NamedTuple):
    """Rows that were spooled as Arrow."""

    partition: tuple[str, ...]
    table: pa.Table


def spool_record(batch: PendingBatch, codec: SpoolCodec | None) -> bytes | None:
    """The spool record of ``batch``: the codec's bytes, or else its rows as Arrow IPC.

    None if its rows cannot be converted at all: the writer drops them too, and logs why.
    """
    if codec is not None:
        try:
            body = codec.encode(batch.payload)
        except ValueError:  # a value the codec cannot hold: the slower, general way
            pass
        else:
            return marshal.dumps((_CODEC, batch.partition, batch.rows, body))
    try:
        table = arrow_table(batch.schema, batch.build([batch.payload]))
    except Exception:  # whatever a bad batch raises
        return None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    return marshal.dumps((_ARROW, batch.partition, batch.rows, sink.getvalue().to_pybytes()))


def read_spooled(
    path: Path, codec: SpoolCodec | None
) -> tuple[int, list[PendingBatch | SpooledTable]] | None:
    """A segment's rows per file, and its batches in the order they were appended.

    None for a segment without a record (its writer died before the first was whole).
    """
    records = read_segment(path)
    header = next(records, None)
    if header is None:
        return None
    spooled: list[PendingBatch | SpooledTable] = []
    for record in records:
        kind, partition, rows, body = marshal.loads(record)
        if kind == _ARROW:
            spooled.append(SpooledTable(partition, pa.ipc.open_stream(body).read_all()))
        elif codec is None:
            raise RuntimeError(f"no codec for the records of {path.name}")
        else:
            schema, payload, build = codec.decode(body)
            spooled.append(PendingBatch(partition, schema, rows, payload, build))
    return int(json.loads(header)["file_rows"]), spooled
