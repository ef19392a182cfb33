"""Job run records: one JSON line per event of a run, saying when it ran, how it ended, what
it made.

A run that holds its lock writes a ``running`` line first and its outcome line last, both with
the same ``run_id``; reading folds them, the last line of a run winning. A run whose last line
is still ``running`` either runs now or died: the next run of the job, once it holds the lock
(so nobody else runs the job), records it as ``crashed``.
"""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from jobs.lock import HOST

_append_lock = threading.Lock()


def new_run_id() -> str:
    """A fresh id for one run."""
    return uuid.uuid4().hex


@dataclass
class RunRecord:
    """One run of one job."""

    job: str
    started_at: str
    ended_at: str | None = None
    outcome: str = "running"
    """``running``, ``ok``, ``failed``, ``skipped`` (another scheduler held the lock), or
    ``crashed`` (its process stopped before recording an outcome)."""
    detail: str = ""
    produced: dict[str, Any] = field(default_factory=dict)
    run_id: str = field(default_factory=new_run_id)
    host: str = HOST
    """The host and process that ran it (records written before these existed say "")."""
    pid: int = field(default_factory=os.getpid)


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
    """Every run of ``job`` as its latest complete record, in the order the runs began."""
    path = folder / f"{job}.jsonl"
    if not path.is_file():
        return []
    runs: dict[str, RunRecord] = {}
    for number, line in enumerate(path.read_bytes().splitlines()):
        try:
            fields = orjson.loads(line)
            # Lines written before runs had ids are runs of their own.
            fields.setdefault("run_id", f"line-{number}")
            fields.setdefault("host", "")
            fields.setdefault("pid", 0)
            record = RunRecord(**fields)
        except (orjson.JSONDecodeError, TypeError):
            continue  # a line cut short by a crash
        runs[record.run_id] = record  # a later line of a run replaces its earlier one in place
    return list(runs.values())


def record_crashed_runs(folder: Path, job: str, found_by: RunRecord) -> list[RunRecord]:
    """Record every run of ``job`` still ``running`` as ``crashed``; call holding its lock.

    Holding the lock means no other run of the job is alive (its lock would still be renewed),
    so a run that never recorded an outcome stopped without one.
    """
    crashed = []
    for record in read_records(folder, job):
        if record.outcome != "running" or record.run_id == found_by.run_id:
            continue
        record.outcome = "crashed"
        who = f"pid {record.pid} on {record.host}" if record.host else "its process"
        record.detail = (
            f"{who} stopped before recording an outcome; found by run {found_by.run_id} "
            f"at {found_by.started_at}"
        )
        append_record(folder, record)
        crashed.append(record)
    return crashed
