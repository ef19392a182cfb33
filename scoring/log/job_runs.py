"""The jobs' own logs: one JSON line per event of a run, and the schedules they run on.

Both live under ``<data dir>/jobs/``. The jobs write them; the service reads them to show job
outcomes on ``/metrics``. Everything that reads or writes them asks here.

A run that holds its lock writes a ``running`` line first and its outcome line last, both with
the same ``run_id``; reading folds them, the last line of a run winning.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

OUTCOMES = ("ok", "failed", "skipped", "crashed")
"""How a run can end (``running`` is not an ending)."""

SCHEDULE_FILE = "schedule.json"

_append_lock = threading.Lock()


def jobs_dir(data_dir: Path) -> Path:
    """Where the jobs keep their state: run records, the schedules, the scheduler's store."""
    return data_dir / "jobs"


def runs_dir(data_dir: Path) -> Path:
    """The run records, one ``<job>.jsonl`` per job."""
    return jobs_dir(data_dir) / "runs"


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
    host: str = field(default_factory=socket.gethostname)
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


def parse_record(line: bytes, number: int) -> RunRecord | None:
    """The record on line ``number`` (from 0) of a job's file; None for a line cut short."""
    try:
        fields = orjson.loads(line)
        # Lines written before runs had ids are runs of their own.
        fields.setdefault("run_id", f"line-{number}")
        fields.setdefault("host", "")
        fields.setdefault("pid", 0)
        return RunRecord(**fields)
    except (orjson.JSONDecodeError, TypeError):
        return None  # a line cut short by a crash


def read_records(folder: Path, job: str) -> list[RunRecord]:
    """Every run of ``job`` as its latest complete record, in the order the runs began."""
    path = folder / f"{job}.jsonl"
    if not path.is_file():
        return []
    runs: dict[str, RunRecord] = {}
    for number, line in enumerate(path.read_bytes().splitlines()):
        record = parse_record(line, number)
        if record is not None:
            runs[record.run_id] = record  # a later line of a run replaces its earlier one
    return list(runs.values())


@dataclass(frozen=True)
class JobSchedule:
    """When a scheduler runs one job."""

    job: str
    schedule: str
    """As configured: ``every 1h`` or a crontab line."""
    interval_s: float
    """The longest time between two runs the schedule asks for."""
    since: str
    """When the scheduler took the schedule up (ISO 8601, UTC)."""


def schedule_file(data_dir: Path) -> Path:
    """The schedules of the jobs, as the scheduler that started last took them up."""
    return jobs_dir(data_dir) / SCHEDULE_FILE


def schedules_to_json(schedules: list[JobSchedule]) -> bytes:
    """The schedule file's content."""
    return orjson.dumps({"jobs": [asdict(s) for s in schedules]}, option=orjson.OPT_INDENT_2)


def parse_schedules(content: bytes) -> list[JobSchedule]:
    """The schedules a schedule file holds; ValueError when it is not one."""
    try:
        return [JobSchedule(**fields) for fields in orjson.loads(content)["jobs"]]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"not a schedule file: {exc}") from exc
