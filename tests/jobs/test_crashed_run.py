"""A `scorer jobs run` killed with SIGKILL mid-run: its lock expires soon, its record says so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from features.store import feast_apply
from jobs.demo.data import DemoDataConfig, generate
from jobs.demo.redis_server import LocalRedisServer, free_port
from jobs.records import RunRecord, read_records
from jobs.runner import JobRunner
from scoring.settings import Settings
from tests.utils.repo import ROOT

TTL_S = 2
# Enough customers that a first materialize takes several seconds (about 9 s here), far
# longer than the lock's TTL: the run is killed while it really works.
BIG_DEMO = DemoDataConfig(customers=120_000, merchants=12_000, transactions=20_000, days=21)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[LocalRedisServer]:
    """A Redis of this test's own: the big repo must not overwrite the session's features."""
    server = LocalRedisServer(free_port(), tmp_path / "redis")
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(f"the tests need a local redis-server: {exc}")
    yield server
    server.stop()


def _wait_for_running(runs: Path, proc: subprocess.Popen[bytes], log: Path) -> RunRecord:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running = [r for r in read_records(runs, "materialize") if r.outcome == "running"]
        if running:
            return running[0]
        assert proc.poll() is None, log.read_text()
        time.sleep(0.05)
    raise AssertionError(f"no running record appeared\n{log.read_text()}")


def test_a_killed_run_is_recorded_as_crashed_and_frees_the_job_soon(
    own_redis: LocalRedisServer, tmp_path: Path
) -> None:
    repo = tmp_path / "feature_repo"
    shutil.copytree(
        ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__")
    )
    generate(BIG_DEMO).write(repo / "data")
    feast_apply(repo, own_redis.connection_string)
    settings = Settings(
        feature_repo=repo,
        data_dir=tmp_path / "data",
        online_store=own_redis.connection_string,
        job_lock_timeout_s=TTL_S,
    )
    env = {
        **os.environ,
        "SCORER_FEATURE_REPO": str(repo),
        "SCORER_DATA_DIR": str(settings.data_dir),
        "SCORER_ONLINE_STORE": own_redis.connection_string,
        "SCORER_JOB_LOCK_TIMEOUT_S": str(TTL_S),
    }
    scorer = str(Path(sys.executable).with_name("scorer"))
    runs = settings.data_dir / "jobs" / "runs"
    log = tmp_path / "job.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [scorer, "jobs", "run", "materialize"], env=env, stdout=out, stderr=out
        )
    try:
        started = _wait_for_running(runs, proc, log)
        assert started.pid == proc.pid
        # Past the TTL only the heartbeat keeps the lock: a second run is refused and says by
        # whom.
        time.sleep(2 * TTL_S + 0.5)
        assert proc.poll() is None, f"the run ended before it could be killed\n{log.read_text()}"
        skipped = JobRunner(settings).run("materialize")
        assert skipped.outcome == "skipped", skipped
        assert f"pid {proc.pid} on {started.host}" in skipped.detail
    finally:
        proc.kill()
        proc.wait()

    # The dead holder's lock expires within its TTL; the next run proceeds and finds the crash.
    time.sleep(TTL_S + 1)
    done = JobRunner(settings).run("materialize")
    assert done.outcome == "ok", done.detail

    records = read_records(runs, "materialize")
    assert [r.outcome for r in records] == ["crashed", "skipped", "ok"]
    crashed = records[0]
    assert (crashed.run_id, crashed.pid) == (started.run_id, proc.pid)
    assert crashed.started_at == started.started_at
    assert done.run_id in crashed.detail
