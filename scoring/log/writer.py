"""An append-only Parquet dataset fed from memory: the request path appends, a thread writes.

Files are written under a temporary dot-name, fsynced and renamed, so a reader (pyarrow,
DuckDB and Spark all skip dot-files) sees a file whole or not at all, even after SIGKILL.
With a spool (``scoring.log.spool``), appended rows also outlive a killed process.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from scoring.durable import atomic_path
from scoring.log.batch import (
    PendingBatch,
    PendingFile,
    SpoolCodec,
    estimated_row_bytes,
    segment_files,
    table_of,
)
from scoring.log.spool import (
    HeldWriter,
    Spool,
    SpooledTable,
    dead_writers,
    read_spooled,
    segment_path,
    spool_record,
)
from scoring.settings import Settings

log = logging.getLogger(__name__)

# The writer converts appended rows to Arrow in rounds of at least this many, or of whatever a
# flush interval brought. A round costs the writer a few milliseconds whatever its size, more
# while another thread keeps the GIL busy: beside a busy thread, rounds of 360 rows (a tenth
# of a second of a saturated worker) took 11 us of the writer's CPU a row, rounds of 1,800
# rows 4.4 us; 6,000-row rounds saved nothing more. A larger round does not stall requests
# longer: its Python code gives the GIL up every switch interval.
CONVERT_ROWS = 2_000

SPOOL_DIR = ".spool"
"""The spool's folder inside a log's root: dataset readers skip dot-folders."""


@dataclass(frozen=True)
class LogCounters:
    """What a log writer has done since it started."""

    rows_appended: int
    rows_written: int
    rows_dropped: int
    rows_buffered: int
    files_written: int
    write_errors: int
    bytes_buffered: int = 0
    rows_recovered: int = 0
    """Rows found in the spool of a writer that died, queued for writing again."""
    spool_errors: int = 0
    """Appends the spool could not take: their rows wait in memory only."""


class ParquetLogWriter:
    """Buffers row batches in memory and writes them as Parquet files from its own thread.

    Rows go in segments: everything appended between two write rounds. A segment becomes
    files of at most ``flush_rows`` rows each, named after the writer, the segment and the
    file's place in it, so that a full disk drains a backlog file by file, and so that rows
    recovered from a dead writer's spool land under the names that writer would have used:
    a file it managed to write is not written twice.
    """

    def __init__(
        self,
        root: Path,
        *,
        flush_rows: int,
        flush_interval_s: float,
        max_buffer_rows: int,
        name: str,
        max_buffer_bytes: int = sys.maxsize,
        unique_columns: Collection[str] = (),
        spool_dir: Path | None = None,
        codec: SpoolCodec | None = None,
    ) -> None:
        self.root = root
        self._unique_columns = frozenset(unique_columns)
        self._flush_rows = flush_rows
        self._interval = flush_interval_s
        self._max_buffer_rows = max_buffer_rows
        self._max_buffer_bytes = max_buffer_bytes
        self._name = name
        self._codec = codec
        # Each process writes its own files: host and pid in the name, then a random part.
        self._prefix = f"part-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._segment = 1
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._buffer: list[PendingBatch] = []
        self._buffered = self._bytes = 0
        """Rows not yet in a file, and their size in memory (Arrow's, estimated until built)."""
        self._unconverted = self._unconverted_bytes = 0
        self._appended = self._written = self._dropped = self._files_written = 0
        self._errors = self._recovered = 0
        self._row_bytes: dict[int, float] = {}
        """Arrow bytes a row, by the schema's identity: learned from each converted round."""
        self._thread: threading.Thread | None = None
        # Only the writer (the thread, or flush() and close() on the caller's) touches these,
        # under _io: the current segment's rows converted to Arrow, and the files to write.
        self._converted: dict[tuple[tuple[str, ...], pa.Schema], list[pa.Table]] = {}
        self._converted_bytes = 0
        self._files: deque[PendingFile] = deque()
        self._spooled_files: Counter[Path] = Counter()
        self._held: list[HeldWriter] = []
        self._last_write = time.monotonic()
        self._io = threading.RLock()
        self._spool: Spool | None = None
        if spool_dir is not None:
            header = json.dumps({"file_rows": flush_rows}).encode()
            self._spool = Spool(spool_dir, self._prefix, header)

    def start(self) -> None:
        """Start the writer thread; it first recovers what dead writers left in the spool."""
        self._thread = threading.Thread(target=self._run, name=f"{self._name}-writer", daemon=True)
        self._thread.start()

    def append(self, batch: PendingBatch) -> bool:
        """Queue rows for writing; False (and counted) when the buffer is full.

        With a spool, the rows are in it before this returns: the caller may answer for them.
        """
        record = spool_record(batch, self._codec) if self._spool is not None else None
        with self._lock:
            self._appended += batch.rows
            size = self._row_bytes.get(id(batch.schema))
            if size is None:
                size = self._row_bytes[id(batch.schema)] = estimated_row_bytes(batch.schema)
            nbytes = int(batch.rows * size)
            if (
                self._buffered + batch.rows > self._max_buffer_rows
                or self._bytes + nbytes > self._max_buffer_bytes
                or self._stopping
            ):
                self._dropped += batch.rows
                return False
            if record is not None and self._spool is not None:
                self._spool.write(record)  # under the lock: the spool's order is the buffer's
            self._buffer.append(batch)
            self._buffered += batch.rows
            self._bytes += nbytes
            self._unconverted += batch.rows
            self._unconverted_bytes += nbytes
            due = self._unconverted >= CONVERT_ROWS or self._buffered >= self._flush_rows
        if due:
            self._wake.set()
        return True

    def counters(self) -> LogCounters:
        """A consistent snapshot of the counters."""
        with self._lock:
            return LogCounters(
                rows_appended=self._appended,
                rows_written=self._written,
                rows_dropped=self._dropped,
                rows_buffered=self._buffered,
                files_written=self._files_written,
                write_errors=self._errors,
                bytes_buffered=self._bytes,
                rows_recovered=self._recovered,
                spool_errors=0 if self._spool is None else self._spool.errors,
            )

    def flush(self) -> None:
        """Write everything buffered now, on the caller's thread (tests and shutdown)."""
        with self._io:
            self._convert_pending(seal=True)
            self._write_files()

    def close(self, timeout_s: float = 30.0) -> LogCounters:
        """Write everything acknowledged so far, stop the thread, and report."""
        with self._lock:
            self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.flush()  # whatever the thread could not write in its last round
        with self._io, self._lock:
            if self._buffered and self._spool is None:
                log.error(
                    "%s: %d rows could not be written and are lost", self._name, self._buffered
                )
                self._dropped += self._buffered
                self._buffered = self._bytes = 0
            elif self._buffered:
                log.error(
                    "%s: %d rows could not be written; the next start recovers them from the "
                    "spool (%d records could not be spooled)",
                    self._name, self._buffered, self._spool.errors if self._spool else 0,
                )  # fmt: skip
            self._files.clear()
            for held in self._held:
                held.release()
            self._held.clear()
            if self._spool is not None:
                self._spool.close()
        return self.counters()

    def _run(self) -> None:
        if self._spool is not None:
            self._recover(self._spool.folder)
        while True:
            self._wake.wait(max(0.0, self._last_write + self._interval - time.monotonic()))
            self._wake.clear()
            with self._lock:
                stopping = self._stopping
                full = self._buffered >= self._flush_rows
            with self._io:
                due = stopping or full or time.monotonic() - self._last_write >= self._interval
                self._convert_pending(seal=due)
                due = due or bool(self._files)  # recovered rows, or a backlog
                ok = self._write_files() if due else True
            if stopping:
                return
            if not ok:
                time.sleep(min(self._interval, 1.0))  # the disk is failing: don't spin on it

    def _convert_pending(self, *, seal: bool) -> None:
        """Turn the rows appended since the last call into Arrow; ``seal`` ends the segment."""
        with self._lock:
            pending, self._buffer, self._unconverted = self._buffer, [], 0
            estimated, self._unconverted_bytes = self._unconverted_bytes, 0
            segment = self._segment
            seal = seal and bool(pending or self._converted)
            if seal:
                self._segment += 1
                if self._spool is not None:
                    self._spool.seal()
        # Grouped by the schema's identity: hashing a pa.Schema per batch cost more than the rest
        # of the grouping. Each writer's caller holds one schema object per layout.
        groups: dict[tuple[Any, ...], list[PendingBatch]] = {}
        for batch in pending:
            groups.setdefault((batch.partition, id(batch.schema), batch.build), []).append(batch)
        built = 0
        for batches in groups.values():
            key = (batches[0].partition, batches[0].schema)
            table = self._convert(key[1], batches)
            if table is not None:
                self._converted.setdefault(key, []).append(table)
                built += table.nbytes
                self._row_bytes[id(key[1])] = table.nbytes / max(table.num_rows, 1)
        self._converted_bytes += built
        with self._lock:
            self._bytes += built - estimated
        if seal:
            groups_built, self._converted = list(self._converted.items()), {}
            spooled = None
            if self._spool is not None:
                spooled = segment_path(self._spool.folder, self._prefix, segment)
            files = segment_files(self._prefix, segment, groups_built, self._flush_rows,
                                        spooled)  # fmt: skip
            with self._lock:
                self._bytes += sum(f.nbytes for f in files) - self._converted_bytes
            self._converted_bytes = 0
            self._queue(files, spooled)

    def _convert(self, schema: pa.Schema, batches: list[PendingBatch]) -> pa.Table | None:
        """One table of ``batches``; rows that cannot be converted are dropped and counted."""
        table, bad = table_of(schema, batches, self._name)
        if bad:
            # A batch that cannot be converted is a bug upstream; keeping it would block the
            # rest. Its traceback is logged above.
            rows = sum(b.rows for b in bad)
            log.error("%s: dropping %d rows that cannot be written", self._name, rows)
            with self._lock:
                self._buffered -= rows
                self._dropped += rows
        return table

    def _queue(self, files: list[PendingFile], spooled: Path | None) -> None:
        """Files to write in turn; a spool segment none of whose rows remain goes now."""
        self._files.extend(files)
        if spooled is None:
            return
        if files:
            self._spooled_files[spooled] += len(files)
        else:
            spooled.unlink(missing_ok=True)

    def _write_files(self) -> bool:
        """Write the files in turn; False, with the rest kept for later, if one failed."""
        self._last_write = time.monotonic()
        while self._files:
            file = self._files[0]
            try:
                self._write_file(file)
            except OSError as exc:
                # The first failure ends the round: a full disk fails every file alike. The
                # rows still count against the buffer bound, so a dead disk makes new rows
                # drop (counted) instead of memory growing.
                log.error(
                    "%s: cannot write %d rows (%d files wait), will retry: %s",
                    self._name, file.table.num_rows, len(self._files), exc,
                )  # fmt: skip
                with self._lock:
                    self._errors += 1
                return False
            self._files.popleft()
            with self._lock:
                self._written += file.table.num_rows
                self._buffered -= file.table.num_rows
                self._bytes -= file.nbytes
                self._files_written += 1
            if file.spooled is not None:
                self._spooled_files[file.spooled] -= 1
                if not self._spooled_files[file.spooled]:
                    del self._spooled_files[file.spooled]
                    file.spooled.unlink(missing_ok=True)
        return True

    def _recover(self, folder: Path) -> None:
        """Queue the spooled rows of writers that died before writing them, each exactly once."""
        for held in dead_writers(folder, self._prefix):
            self._held.append(held)  # kept until this writer closes: no one else recovers it
            for segment, path in held.segments():
                try:
                    files = self._recovered_files(held.prefix, segment, path)
                except Exception:  # left on disk for a later start to try again
                    log.exception("%s: cannot recover spool %s", self._name, path.name)
                    continue
                rows = sum(f.table.num_rows for f in files)
                with self._io:
                    with self._lock:
                        self._recovered += rows
                        self._buffered += rows
                        self._bytes += sum(f.nbytes for f in files)
                    self._queue(files, path)
                log.info("%s: recovering %d rows from spool %s", self._name, rows, path.name)
        self._wake.set()

    def _recovered_files(self, prefix: str, segment: int, path: Path) -> list[PendingFile]:
        """The files of a dead writer's segment that it had not written yet."""
        spooled = read_spooled(path, self._codec)
        if spooled is None:
            return []
        file_rows, items = spooled
        groups: dict[tuple[tuple[str, ...], pa.Schema], list[pa.Table]] = {}
        run: list[PendingBatch] = []  # consecutive batches of one kind convert together

        def convert_run() -> None:
            if run:
                table = self._convert(run[0].schema, run)
                if table is not None:
                    groups.setdefault((run[0].partition, run[0].schema), []).append(table)
                run.clear()

        for item in items:
            if isinstance(item, SpooledTable):
                convert_run()
                groups.setdefault((item.partition, item.table.schema), []).append(item.table)
                continue
            kind = (item.partition, item.schema, item.build)
            if run and (run[0].partition, run[0].schema, run[0].build) != kind:
                convert_run()
            run.append(item)
        convert_run()
        files = segment_files(prefix, segment, list(groups.items()), file_rows, path)
        return [f for f in files if not self.root.joinpath(*f.partition, f.name).exists()]

    def _dictionary(self, schema: pa.Schema) -> list[str]:
        """Columns worth dictionary encoding: text, except what is unique per row.

        Parquet's default tries a dictionary on every column and gives up on the ones with
        too many distinct values; on the log's ids, scores and features that cost a third of
        the write, and the file came out larger.
        """
        return [
            f.name
            for f in schema
            if pa.types.is_string(f.type) and f.name not in self._unique_columns
        ]

    def _write_file(self, file: PendingFile) -> None:
        folder = self.root.joinpath(*file.partition)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / file.name) as temporary:
            pq.write_table(
                file.table,
                temporary,
                compression="zstd",
                use_dictionary=self._dictionary(file.table.schema),
            )


def log_writer(
    settings: Settings, root: Path, name: str, codec: SpoolCodec | None = None
) -> ParquetLogWriter:
    """A writer for one log under ``root``, sized and timed by the settings, spooled."""
    return ParquetLogWriter(
        root,
        flush_rows=settings.log_flush_rows,
        flush_interval_s=settings.log_flush_interval_s,
        max_buffer_rows=settings.log_max_buffer_rows,
        max_buffer_bytes=settings.log_max_buffer_bytes,
        name=name,
        unique_columns=("request_id",),
        spool_dir=root / SPOOL_DIR,
        codec=codec,
    )
