"""`scorer jobs` as a real process: it fires on schedule and stops cleanly on SIGTERM."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from jobs.records import read_records
from scoring.settings import Settings


def _exit_code_or_kill(proc: subprocess.Popen[bytes], timeout_s: float = 60) -> int | None:
    """The exit code of a process told to stop; None, and killed, if it did not stop in time."""
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def test_two_schedulers_fire_materialize_and_stop_on_sigterm(
    settings: Settings, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "SCORER_FEATURE_REPO": str(settings.feature_repo),
        "SCORER_DATA_DIR": str(tmp_path),
        "SCORER_ONLINE_STORE": settings.online_store,
        "SCORER_SCHEDULE_MATERIALIZE": "every 1s",
        "SCORER_SCHEDULE_DRIFT": "",
    }
    scorer = str(Path(sys.executable).with_name("scorer"))
    runs = tmp_path / "jobs" / "runs"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with open(tmp_path / "jobs.log", "wb") as log:
            for _ in range(2):
                command = [scorer, "jobs"]
                procs.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sum(r.outcome == "ok" for r in read_records(runs, "materialize")) >= 3:
                break
            time.sleep(0.2)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [_exit_code_or_kill(proc) for proc in procs]
    records = read_records(runs, "materialize")
    assert sum(r.outcome == "ok" for r in records) >= 3, (tmp_path / "jobs.log").read_text()
    assert codes == [0, 0], (tmp_path / "jobs.log").read_text()
    assert {r.outcome for r in records} <= {"ok", "skipped"}
    # The lock: no two runs overlapped in time, whichever scheduler ran them.
    spans = sorted((r.started_at, r.ended_at or "") for r in records if r.outcome == "ok")
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start
