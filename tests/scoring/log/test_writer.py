"""The Parquet log writer: whole files only, flush by size and age, bounded when the disk fails."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from scoring.log.batch import Columns, PendingBatch
from scoring.log.writer import CONVERT_ROWS, ParquetLogWriter
from tests.utils.repo import ROOT

SCHEMA = pa.schema([pa.field("i", pa.int64()), pa.field("x", pa.float64())])


def ranges(payloads: Sequence[Any]) -> Columns:
    """Columns of ``(start, n)`` payloads: ``i`` counts from ``start``, a ``str`` start is bad."""
    i = [start + k if isinstance(start, int) else start for start, n in payloads for k in range(n)]
    return {"i": i, "x": [0.5] * len(i)}


def batch(start: int | str, n: int, part: str = "date=2026-01-01") -> PendingBatch:
    return PendingBatch((part,), SCHEMA, n, (start, n), ranges)


def rows_on_disk(root: Path) -> list[int]:
    if not root.is_dir() or not list(root.rglob("*.parquet")):
        return []
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    return sorted(table.column("i").to_pylist())


def writer(root: Path, **kwargs: Any) -> ParquetLogWriter:
    options = {"flush_rows": 1000, "flush_interval_s": 60.0, "max_buffer_rows": 10_000} | kwargs
    return ParquetLogWriter(root, name="test", **options)


def wait_until(predicate: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def writer_idle(log: ParquetLogWriter) -> bool:
    """The writer thread waits for work and nothing has woken it since its last round ended.

    The positive sign that the writer looked at what was appended and chose to do nothing:
    once woken, it clears the wake-up and waits again only after its round is done.
    """
    assert log._thread is not None
    if log._wake.is_set():  # checked before the stack: a wake-up still to be served
        return False
    frame = sys._current_frames().get(log._thread.ident)
    while frame is not None:
        if frame.f_code is threading.Event.wait.__code__:
            caller = frame.f_back
            return caller is not None and caller.f_code is ParquetLogWriter._run.__code__
        frame = frame.f_back
    return False


def test_close_writes_every_acknowledged_row(tmp_path: Path) -> None:
    log = writer(tmp_path)
    log.start()
    for k in range(10):
        assert log.append(batch(k * 7, 7, part=f"date=2026-01-0{1 + k % 2}"))
    counters = log.close()
    assert rows_on_disk(tmp_path) == list(range(70))
    assert (counters.rows_written, counters.rows_dropped, counters.rows_buffered) == (70, 0, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["date=2026-01-01", "date=2026-01-02"]
    assert not list(tmp_path.rglob(".*")), "no temporary file is left behind"


def test_flushes_by_size_and_by_age(tmp_path: Path) -> None:
    by_size = writer(tmp_path / "size", flush_rows=10)
    by_size.start()
    by_size.append(batch(0, 12))
    wait_until(lambda: rows_on_disk(tmp_path / "size") == list(range(12)))
    by_size.close()

    by_age = writer(tmp_path / "age", flush_interval_s=0.05)
    by_age.start()
    by_age.append(batch(0, 3))
    wait_until(lambda: rows_on_disk(tmp_path / "age") == [0, 1, 2])
    by_age.close()


def test_failing_disk_keeps_answering_bounded_and_counts_drops(tmp_path: Path) -> None:
    root = tmp_path / "log"
    root.write_text("a file where the log folder should be: every write fails")
    log = writer(root, flush_interval_s=0.02, max_buffer_rows=100)
    log.start()
    accepted = sum(log.append(batch(i * 10, 10)) for i in range(30))
    wait_until(lambda: log.counters().write_errors >= 2)
    counters = log.counters()
    assert accepted == 10, "the buffer holds at most 100 rows"
    assert counters.rows_dropped == 200
    assert counters.rows_buffered == 100

    root.unlink()  # the disk comes back
    wait_until(lambda: log.counters().rows_written == 100)
    assert rows_on_disk(root) == list(range(100))
    assert log.close().rows_dropped == 200


def test_the_buffer_is_bounded_by_bytes_too(tmp_path: Path) -> None:
    root = tmp_path / "log"
    root.write_text("a file where the log folder should be: every write fails")
    # A row of SCHEMA is 16 bytes of Arrow: 100 rows fit, before and after they are built.
    log = writer(root, flush_interval_s=0.02, max_buffer_bytes=1600)
    accepted = sum(log.append(batch(i * 10, 10)) for i in range(15))
    assert accepted == 10
    assert log.counters().bytes_buffered == 1600
    log.start()
    wait_until(lambda: log.counters().write_errors >= 1)
    assert log.counters().bytes_buffered == 1600, "the built rows take what was estimated"
    assert not log.append(batch(1000, 1)), "refused: one row over the bound"
    counters = log.counters()
    assert (counters.rows_dropped, counters.rows_buffered) == (51, 100)

    root.unlink()  # the disk comes back
    wait_until(lambda: log.counters().rows_written == 100)
    assert log.counters().bytes_buffered == 0
    assert log.append(batch(100, 10))
    log.close()
    assert rows_on_disk(root) == list(range(110))


def test_rows_that_do_not_fit_the_schema_are_dropped_not_blocking(tmp_path: Path) -> None:
    log = writer(tmp_path)
    log.append(batch(10, 2))
    log.append(batch("not an int", 1))  # in the same round and group as its neighbours
    log.append(batch(20, 1))
    log.append(batch(0, 2, part="date=2026-01-02"))
    counters = log.close()
    assert rows_on_disk(tmp_path) == [0, 1, 10, 11, 20]
    assert counters.rows_dropped == 1
    assert counters.rows_written == 5


def test_a_builder_that_raises_loses_only_its_own_rows(tmp_path: Path) -> None:
    def fragile(payloads: Sequence[Any]) -> Columns:
        if any(start == 13 for start, _ in payloads):
            raise AttributeError("a bug in the builder")
        return ranges(payloads)

    log = writer(tmp_path, flush_interval_s=0.02)
    log.start()
    for start in (10, 13, 16):
        log.append(PendingBatch(("date=2026-01-01",), SCHEMA, 3, (start, 3), fragile))
    wait_until(lambda: log.counters().rows_written == 6)
    log.append(batch(30, 2))  # the writer thread is still at work
    wait_until(lambda: log.counters().rows_written == 8)
    counters = log.close()
    assert rows_on_disk(tmp_path) == [10, 11, 12, 16, 17, 18, 30, 31]
    assert (counters.rows_dropped, counters.rows_buffered) == (3, 0)


def test_a_round_builds_columns_once_per_group(tmp_path: Path) -> None:
    calls: list[int] = []

    def counted(payloads: Sequence[Any]) -> Columns:
        calls.append(len(payloads))
        return ranges(payloads)

    log = writer(tmp_path)  # not started: flush() runs one round on this thread
    for k in range(5):
        log.append(PendingBatch(("date=2026-01-01",), SCHEMA, 2, (k * 2, 2), counted))
    log.append(PendingBatch(("date=2026-01-02",), SCHEMA, 1, (100, 1), counted))
    log.flush()
    assert sorted(calls) == [1, 5]
    assert rows_on_disk(tmp_path) == [*range(10), 100]
    log.close()


def test_rows_are_converted_in_rounds_of_convert_rows_between_writes(tmp_path: Path) -> None:
    rounds: list[int] = []

    def counted(payloads: Sequence[Any]) -> Columns:
        rounds.append(sum(n for _, n in payloads))
        return ranges(payloads)

    # Neither a write by size nor one by age is due for a minute.
    log = writer(tmp_path, flush_rows=10 * CONVERT_ROWS, max_buffer_rows=20 * CONVERT_ROWS)
    log.start()
    part = CONVERT_ROWS // 4
    for k in range(3):
        log.append(PendingBatch(("date=2026-01-01",), SCHEMA, part, (k * part, part), counted))
        wait_until(lambda: writer_idle(log))
    assert rounds == [], "fewer rows than a round wait for the flush interval"
    log.append(PendingBatch(("date=2026-01-01",), SCHEMA, part, (3 * part, part), counted))
    wait_until(lambda: rounds == [CONVERT_ROWS] and writer_idle(log))
    assert rows_on_disk(tmp_path) == [], "converted, not written: no write is due"
    counters = log.close()
    assert rows_on_disk(tmp_path) == list(range(CONVERT_ROWS))
    assert counters.rows_written == CONVERT_ROWS


@pytest.mark.parametrize("files", [1, 3])
def test_files_are_readable_alone(tmp_path: Path, files: int) -> None:
    log = writer(tmp_path)
    for k in range(files):
        log.append(batch(k * 5, 5))
        log.flush()
    log.close()
    paths = sorted(tmp_path.rglob("*.parquet"))
    assert len(paths) == files
    assert sum(pq.read_table(p).num_rows for p in paths) == 5 * files
    shutil.rmtree(tmp_path)


def files_under(root: Path) -> list[str]:
    """Every file under ``root``, dot-files included, as paths relative to it."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_file_that_cannot_be_synced_is_not_left_behind_and_its_rows_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []

    def failing_fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_size)  # the whole file was written before the sync
        raise OSError(5, "Input/output error")

    log = writer(tmp_path)  # not started: flush() writes on this thread
    log.append(batch(0, 5))
    monkeypatch.setattr(os, "fsync", failing_fsync)
    log.flush()
    monkeypatch.undo()
    assert synced
    assert synced[0] > 0
    assert files_under(tmp_path) == [], "neither a final file nor a temporary one"
    assert (log.counters().write_errors, log.counters().rows_buffered) == (1, 5)
    log.flush()  # the disk is back: the same rows, once
    assert rows_on_disk(tmp_path) == [0, 1, 2, 3, 4]
    assert log.close().rows_written == 5


# Writes a small file, then a large one, in a child process whose files may grow to LIMIT
# bytes at most: the kernel stops the large write part-way, as a full disk does. With SIGXFSZ
# ignored (Python's default) that write fails with EFBIG, an OSError; with the signal's own
# default action the process dies in the middle of the write, as in a crash: no cleanup runs.
_LIMITED_WRITER = """
import json, resource, signal, sys
from pathlib import Path
import numpy as np
from scoring.log.batch import PendingBatch
from tests.scoring.log.test_writer import SCHEMA, batch, writer

def noise(payloads):  # random numbers do not compress: the file is as large as its rows
    n = sum(payloads)
    return {"i": np.arange(100, 100 + n), "x": np.random.default_rng(0).random(n)}

root, die, limit = Path(sys.argv[1]), sys.argv[2] == "die", int(sys.argv[3])
signal.signal(signal.SIGXFSZ, signal.SIG_DFL if die else signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
log = writer(root, flush_rows=1_000_000, max_buffer_rows=1_000_000)  # one large file
assert log.append(batch(0, 5))
log.flush()
assert log.append(PendingBatch(("date=2026-01-01",), SCHEMA, 100_000, 100_000, noise))
log.flush()
print(json.dumps(log.counters().write_errors))
"""


@pytest.mark.parametrize("die", [False, True], ids=["write-fails", "killed-mid-write"])
def test_a_write_cut_short_never_shows_under_a_final_name(tmp_path: Path, die: bool) -> None:
    root = tmp_path / "log"
    limit = 64 * 1024  # bytes: the small file fits, the large one (megabytes) does not
    done = subprocess.run(
        [sys.executable, "-c", _LIMITED_WRITER, str(root), "die" if die else "fail", str(limit)],
        cwd=ROOT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    final = [name for name in files_under(root) if not Path(name).name.startswith(".")]
    assert len(final) == 1, final
    assert (root / final[0]).stat().st_size < limit
    # What a reader of the dataset sees: the first file, whole, and nothing of the second.
    assert rows_on_disk(root) == [0, 1, 2, 3, 4]
    if die:
        assert done.returncode == -signal.SIGXFSZ, done.stderr
    else:
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == 1, "the failed write was counted"
        assert "File too large" in done.stderr, "and logged"
        assert len(files_under(root)) == 1, "its temporary file was removed"


# A backlog built while every write failed, written again once files of up to LIMIT bytes fit
# (the kernel stops a larger write part-way, as a disk with little room left does).
_BACKLOG_WRITER = """
import dataclasses, json, resource, signal, sys
from pathlib import Path
import numpy as np
from scoring.log.batch import PendingBatch
from tests.scoring.log.test_writer import SCHEMA, wait_until, writer

def noise(payloads):  # random numbers do not compress: a file is as large as its rows
    i = np.concatenate([np.arange(start, start + n) for start, n in payloads])
    return {"i": i, "x": np.random.default_rng(0).random(len(i))}

root, limit = Path(sys.argv[1]), int(sys.argv[2])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
root.write_text("a file where the log folder should be: every write fails")
log = writer(root, flush_rows=1000, flush_interval_s=0.02, max_buffer_rows=1_000_000)
log.start()
for k in range(30):
    assert log.append(PendingBatch(("date=2026-01-01",), SCHEMA, 1000, (k * 1000, 1000), noise))
wait_until(lambda: log.counters().write_errors >= 3)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
root.unlink()
try:
    wait_until(lambda: log.counters().rows_written == 30_000, timeout_s=30)
finally:
    print(json.dumps(dataclasses.asdict(log.close())))
"""


def test_a_backlog_drains_in_bounded_files_where_one_large_file_cannot_be_written(
    tmp_path: Path,
) -> None:
    root = tmp_path / "log"
    limit = 64 * 1024  # bytes: a file of 1,000 rows (16 kB of numbers) fits, 30,000 do not
    done = subprocess.run(
        [sys.executable, "-c", _BACKLOG_WRITER, str(root), str(limit)],
        cwd=ROOT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    paths = sorted(root.rglob("*.parquet"))
    assert len(paths) >= 30
    assert max(pq.read_metadata(p).num_rows for p in paths) <= 1000, "flush_rows a file at most"
    assert all(p.stat().st_size < limit for p in paths)
    assert rows_on_disk(root) == list(range(30_000)), "every row, once"
    assert not [p for p in root.rglob(".*") if p.is_file()], "no temporary file is left"
