"""The log's spool: rows a killed writer had acknowledged are written by the next one, once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from scoring.log.batch import Build, Columns, PendingBatch
from scoring.log.writer import SPOOL_DIR, ParquetLogWriter
from tests.scoring.log.test_writer import SCHEMA, batch, ranges, rows_on_disk, wait_until, writer
from tests.utils.repo import ROOT


def spooled(root: Path, **kwargs: Any) -> ParquetLogWriter:
    return writer(root, spool_dir=root / SPOOL_DIR, **kwargs)


def spool_files(root: Path) -> list[str]:
    folder = root / SPOOL_DIR
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# Appends batches of ten rows to a spooled writer, then dies by SIGKILL: no cleanup runs.
# ``flush`` writes the first half first; ``replay`` then puts the spool segment those rows
# were in back and removes one of the files written from it, as if the kill had come after
# that segment's other files and before the segment was removed.
_DYING_WRITER = """
import os, signal, sys
from pathlib import Path
from tests.scoring.log.test_spool import spooled
from tests.scoring.log.test_writer import batch

root, batches, mode = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
log = spooled(root, flush_rows=10)
for k in range(batches // 2):
    assert log.append(batch(k * 10, 10))
if mode in ("flush", "replay"):
    segment = next((root / ".spool").glob("*.spool"))
    kept = segment.read_bytes()
    log.flush()
    if mode == "replay":
        segment.write_bytes(kept)
        os.unlink(sorted(root.rglob("*.parquet"))[1])
for k in range(batches // 2, batches):
    assert log.append(batch(k * 10, 10))
if mode == "torn":  # the kill cuts the last record short
    segment = max((root / ".spool").glob("*.spool"))
    with open(segment, "r+b") as f:
        f.truncate(segment.stat().st_size - 5)
os.kill(os.getpid(), signal.SIGKILL)
"""


def killed_writer(root: Path, batches: int, mode: str = "plain") -> None:
    done = subprocess.run(
        [sys.executable, "-c", _DYING_WRITER, str(root), str(batches), mode],
        cwd=ROOT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr


def recover(root: Path) -> tuple[int, int]:
    """Start a writer in ``root`` and close it: (rows it recovered, rows it wrote)."""
    log = spooled(root)
    log.start()
    counters = log.close()
    return counters.rows_recovered, counters.rows_written


@pytest.mark.parametrize(
    ("mode", "written_before", "recovered"),
    [("plain", 0, 60), ("flush", 30, 30), ("replay", 20, 40), ("torn", 0, 50)],
    ids=["never-written", "half-written", "killed-between-files", "record-cut-short"],
)
def test_rows_a_killed_writer_acknowledged_are_written_by_the_next_one_once(
    tmp_path: Path, mode: str, written_before: int, recovered: int
) -> None:
    root = tmp_path / "log"
    killed_writer(root, 6, mode)
    assert len(rows_on_disk(root)) == written_before
    assert recover(root) == (recovered, recovered)
    every = list(range(50 if mode == "torn" else 60))  # the cut record was never answered
    assert rows_on_disk(root) == every
    assert spool_files(root) == [], "the dead writer's segments and lock are gone"
    assert recover(root) == (0, 0), "a second start finds nothing to recover"
    assert rows_on_disk(root) == every


def test_a_live_writers_spool_is_left_to_it(tmp_path: Path) -> None:
    alive = spooled(tmp_path)
    assert alive.append(batch(0, 10))
    assert recover(tmp_path) == (0, 0), "its lock is held: it is not dead"
    assert alive.close().rows_written == 10
    assert rows_on_disk(tmp_path) == list(range(10))
    assert spool_files(tmp_path) == []


def test_a_clean_close_leaves_no_spool_and_one_that_cannot_write_leaves_the_rows(
    tmp_path: Path,
) -> None:
    root = tmp_path / "log"
    log = spooled(root)
    assert log.append(batch(0, 10))
    blocked = root / "date=2026-01-01"
    blocked.write_text("a file where the partition should be: its writes fail")
    counters = log.close()
    assert (counters.rows_written, counters.rows_dropped, counters.rows_buffered) == (0, 0, 10)
    assert len(spool_files(root)) == 2, "a segment and the lock file, for the next start"
    blocked.unlink()
    assert recover(root) == (10, 10)
    assert rows_on_disk(root) == list(range(10))
    assert spool_files(root) == []


class RangesCodec:
    """Spools ``(start, n)`` payloads as text; a negative start it cannot hold."""

    def encode(self, payload: tuple[int, int]) -> bytes:
        if payload[0] < 0:
            raise ValueError("cannot hold it")
        return f"{payload[0]},{payload[1]}".encode()

    def decode(self, data: bytes) -> tuple[pa.Schema, Any, Build]:
        start, n = (int(x) for x in data.decode().split(","))
        return SCHEMA, (start, n), ranges


def test_a_codec_spools_what_it_holds_and_arrow_the_rest(tmp_path: Path) -> None:
    def shifted(payloads: Sequence[Any]) -> Columns:  # another kind of rows in the partition
        return ranges([(start + 2000, n) for start, n in payloads])

    dead = ParquetLogWriter(
        tmp_path, flush_rows=1000, flush_interval_s=60.0, max_buffer_rows=10_000, name="dead",
        spool_dir=tmp_path / SPOOL_DIR, codec=RangesCodec(),
    )  # fmt: skip
    for start in (0, -10, 10, 20):
        assert dead.append(batch(start, 3))
    assert dead.append(PendingBatch(("date=2026-01-01",), SCHEMA, 2, (-1000, 2), shifted))
    assert dead.append(batch(30, 1, part="date=2026-01-02"))
    # As if it died: its files stay, and its lock is let go.
    dead_spool = tmp_path / "dead-spool"
    shutil.copytree(tmp_path / SPOOL_DIR, dead_spool)
    dead.close()
    shutil.rmtree(tmp_path / "date=2026-01-01")
    shutil.rmtree(tmp_path / "date=2026-01-02")
    shutil.rmtree(tmp_path / SPOOL_DIR)
    dead_spool.rename(tmp_path / SPOOL_DIR)

    heir = ParquetLogWriter(
        tmp_path, flush_rows=1000, flush_interval_s=60.0, max_buffer_rows=10_000, name="heir",
        spool_dir=tmp_path / SPOOL_DIR, codec=RangesCodec(),
    )  # fmt: skip
    heir.start()
    wait_until(lambda: heir.counters().rows_written == 15)
    heir.close()
    assert rows_on_disk(tmp_path) == [-10, -9, -8, 0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 1000, 1001]
