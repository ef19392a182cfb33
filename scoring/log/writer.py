"""An append-only Parquet dataset fed from memory: the request path appends, a thread writes.

Files are written under a temporary dot-name, fsynced and renamed, so a reader (pyarrow,
DuckDB and Spark all skip dot-files) sees a file whole or not at all, even after SIGKILL.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from scoring.durable import atomic_path
from scoring.settings import Settings

log = logging.getLogger(__name__)

Columns = dict[str, Sequence[Any] | npt.NDArray[Any] | pa.Array]

# The writer converts appended rows to Arrow in rounds of at least this many, or of whatever a
# flush interval brought. A round costs the writer a few milliseconds whatever its size, more
# while another thread keeps the GIL busy: beside a busy thread, rounds of 360 rows (a tenth
# of a second of a saturated worker) took 11 us of the writer's CPU a row, rounds of 1,800
# rows 4.4 us; 6,000-row rounds saved nothing more. A larger round does not stall requests
# longer: its Python code gives the GIL up every switch interval.
CONVERT_ROWS = 2_000


class PendingBatch(NamedTuple):
    """Rows waiting to be written, as ``payload``; ``build`` makes their columns later.

    ``build`` takes the payloads of every batch with the same partition, schema and
    ``build`` that a writer round holds, so columns are made once per round rather than once
    per request, off the request path.
    """

    partition: tuple[str, ...]
    schema: pa.Schema
    rows: int
    payload: Any
    build: Callable[[Sequence[Any]], Columns]


@dataclass(frozen=True)
class LogCounters:
    """What a log writer has done since it started."""

    rows_appended: int
    rows_written: int
    rows_dropped: int
    rows_buffered: int
    files_written: int
    write_errors: int


class ParquetLogWriter:
    """Buffers row batches in memory and writes them as Parquet files from its own thread."""

    def __init__(
        self,
        root: Path,
        *,
        flush_rows: int,
        flush_interval_s: float,
        max_buffer_rows: int,
        name: str,
        unique_columns: Collection[str] = (),
    ) -> None:
        self.root = root
        self._unique_columns = frozenset(unique_columns)
        self._flush_rows = flush_rows
        self._interval = flush_interval_s
        self._max_buffer_rows = max_buffer_rows
        self._name = name
        # Each process writes its own files: host and pid in the name, then a counter.
        self._prefix = f"part-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._seq = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._buffer: list[PendingBatch] = []
        self._buffered = 0
        self._unconverted = 0
        self._appended = self._written = self._dropped = self._files = self._errors = 0
        self._thread: threading.Thread | None = None
        # Rows converted to Arrow but not yet in a file, by (partition, schema). Only the
        # writer (the thread, or flush() and close() on the caller's) touches them, under _io.
        self._ready: defaultdict[tuple[tuple[str, ...], pa.Schema], list[pa.Table]] = defaultdict(
            list
        )
        self._last_write = time.monotonic()
        self._io = threading.RLock()

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name=f"{self._name}-writer", daemon=True)
        self._thread.start()

    def append(self, batch: PendingBatch) -> bool:
        """Queue rows for writing; False (and counted) when the buffer is full."""
        with self._lock:
            self._appended += batch.rows
            if self._buffered + batch.rows > self._max_buffer_rows or self._stopping:
                self._dropped += batch.rows
                return False
            self._buffer.append(batch)
            self._buffered += batch.rows
            self._unconverted += batch.rows
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
                files_written=self._files,
                write_errors=self._errors,
            )

    def flush(self) -> None:
        """Write everything buffered now, on the caller's thread (tests and shutdown)."""
        with self._io:
            self._convert_pending()
            self._write_ready()

    def close(self, timeout_s: float = 30.0) -> LogCounters:
        """Write everything acknowledged so far, stop the thread, and report."""
        with self._lock:
            self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.flush()  # whatever the thread could not write in its last round
        with self._lock:
            if self._buffered:
                log.error(
                    "%s: %d rows could not be written and are lost", self._name, self._buffered
                )
                self._dropped += self._buffered
                self._buffer, self._buffered, self._unconverted = [], 0, 0
                self._ready.clear()
        return self.counters()

    def _run(self) -> None:
        while True:
            self._wake.wait(max(0.0, self._last_write + self._interval - time.monotonic()))
            self._wake.clear()
            with self._lock:
                stopping = self._stopping
                full = self._buffered >= self._flush_rows
            with self._io:
                self._convert_pending()
                due = stopping or full or time.monotonic() - self._last_write >= self._interval
                ok = self._write_ready() if due else True
            if stopping:
                return
            if not ok:
                time.sleep(min(self._interval, 1.0))  # the disk is failing: don't spin on it

    def _convert_pending(self) -> None:
        """Turn the rows appended since the last call into Arrow tables, ready to write."""
        with self._lock:
            pending, self._buffer, self._unconverted = self._buffer, [], 0
        # Grouped by the schema's identity: hashing a pa.Schema per batch cost more than the rest
        # of the grouping. Each writer's caller holds one schema object per layout.
        groups: defaultdict[tuple[Any, ...], list[PendingBatch]] = defaultdict(list)
        for batch in pending:
            groups[(batch.partition, id(batch.schema), batch.build)].append(batch)
        for batches in groups.values():
            key = (batches[0].partition, batches[0].schema)
            table, bad = self._table(key[1], batches)
            if bad:
                # A batch that cannot be converted is a bug upstream; keeping it would block
                # the rest. Its traceback is logged above.
                rows = sum(b.rows for b in bad)
                log.error("%s: dropping %d rows that cannot be written", self._name, rows)
                with self._lock:
                    self._buffered -= rows
                    self._dropped += rows
            if table is not None:
                self._ready[key].append(table)

    def _write_ready(self) -> bool:
        """Write one file per partition of the converted rows; False if any write failed."""
        self._last_write = time.monotonic()
        ok = True
        for key in list(self._ready):
            table = pa.concat_tables(self._ready[key])
            try:
                self._write_file(key[0], table)
            except OSError as exc:
                log.error(
                    "%s: cannot write %d rows, will retry: %s", self._name, table.num_rows, exc
                )
                with self._lock:
                    self._errors += 1
                # Kept for the next try; the rows still count against the buffer bound, so a
                # dead disk makes new rows drop (counted) instead of memory growing.
                self._ready[key] = [table]
                ok = False
                continue
            del self._ready[key]
            with self._lock:
                self._written += table.num_rows
                self._buffered -= table.num_rows
                self._files += 1
        return ok

    def _table(
        self, schema: pa.Schema, batches: list[PendingBatch]
    ) -> tuple[pa.Table | None, list[PendingBatch]]:
        """One table of all ``batches``, and the batches that had to be left out."""
        build = batches[0].build
        try:
            # One conversion per column per round: converting each request's few values
            # separately cost more than everything else the log does.
            return _arrow_table(schema, build([batch.payload for batch in batches])), []
        except Exception:  # whatever a bad batch raises, the others are still written
            if len(batches) == 1:
                log.exception("%s: a batch cannot be converted", self._name)
                return None, batches
        tables, bad = [], []
        for batch in batches:  # find the culprit; the rest is written
            try:
                tables.append(_arrow_table(schema, build([batch.payload])))
            except Exception:
                log.exception("%s: a batch cannot be converted", self._name)
                bad.append(batch)
        return (pa.concat_tables(tables) if tables else None), bad

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

    def _write_file(self, partition: tuple[str, ...], table: pa.Table) -> None:
        folder = self.root.joinpath(*partition)
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._seq += 1
            name = f"{self._prefix}-{self._seq:06d}.parquet"
        with atomic_path(folder / name) as temporary:
            pq.write_table(
                table, temporary, compression="zstd", use_dictionary=self._dictionary(table.schema)
            )


def _arrow_table(schema: pa.Schema, columns: Columns) -> pa.Table:
    arrays = [_array(columns[f.name], f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _array(
    values: Sequence[Any] | npt.NDArray[Any] | pa.Array, arrow_type: pa.DataType
) -> pa.Array:
    if isinstance(values, pa.Array):  # built by the caller with the schema's type
        return values
    return pa.array(values, type=arrow_type, from_pandas=True)


def log_writer(settings: Settings, root: Path, name: str) -> ParquetLogWriter:
    """A writer for one log under ``root``, sized and timed by the settings."""
    return ParquetLogWriter(
        root,
        flush_rows=settings.log_flush_rows,
        flush_interval_s=settings.log_flush_interval_s,
        max_buffer_rows=settings.log_max_buffer_rows,
        name=name,
        unique_columns=("request_id",),
    )
