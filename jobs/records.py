"""Job run records: one JSON line per event of a run, saying when it ran, how it ended, what
it made.

The file format lives in :mod:`scoring.log.job_runs`, which the service reads as well. A run
whose last line is still ``running`` either runs now or died: the next run of the job, once it
holds the lock (so nobody else runs the job), records it as ``crashed``.
"""

from __future__ import annotations

from pathlib import Path

from scoring.log.job_runs import RunRecord, append_record, new_run_id, now_iso, read_records

__all__ = [
    "RunRecord",
    "append_record",
    "new_run_id",
    "now_iso",
    "read_records",
    "record_crashed_runs",
]


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
