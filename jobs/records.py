"""Job run records: one JSON line per run, saying when it ran, how it ended, what it made."""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

_append_lock = threading.Lock()


@dataclass
class RunRecord:
    """One run of one job."""

    job: str
    started_at: str
    ended_at: str | None = None
    outcome: str = "running"
    """``ok``, ``failed``, or ``skipped`` (another scheduler held the lock)."""
    detail: str = ""
    produced: dict[str, Any] = field(default_factory=dict)


def now_iso() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.now(UTC).isoformat()


def append_record(folder: Path, record: RunRecord) -> Path:
    """Append the record to ``<folder>/<job>.jsonl``; each line is written in one call."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record.job}.jsonl"
    line = orjson.dumps(asdict(record), default=str) + b"\n"
    with _append_lock, open(path, "ab") as file:
        file.write(line)
        file.flush()
        os.fsync(file.fileno())
    return path


def read_records(folder: Path, job: str) -> list[RunRecord]:
    """Every complete record of ``job``, oldest first."""
    path = folder / f"{job}.jsonl"
    if not path.is_file():
        return []
    records = []
    for line in path.read_bytes().splitlines():
        try:
            records.append(RunRecord(**orjson.loads(line)))
        except (orjson.JSONDecodeError, TypeError):
            continue  # a line cut short by a crash
    return records
