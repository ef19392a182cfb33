"""The job lock's heartbeat and holder, and run records that survive a crashed run."""

from __future__ import annotations

import os
import time
from pathlib import Path

import redis

from jobs.demo.redis_server import LocalRedisServer
from jobs.lock import HOST, LockHolder, job_lock, lock_key
from jobs.records import RunRecord, append_record, read_records, record_crashed_runs


def _client(server: LocalRedisServer) -> redis.Redis:
    return redis.Redis(host=server.host, port=server.port)


def test_the_heartbeat_keeps_a_running_jobs_lock_past_its_ttl(
    redis_server: LocalRedisServer,
) -> None:
    client = _client(redis_server)
    with job_lock(client, "hb-job", 1) as held:
        assert held.acquired
        time.sleep(2.5)  # more than twice the TTL: only renewals keep it
        with job_lock(client, "hb-job", 1) as other:
            assert not other.acquired
            assert other.holder == LockHolder(host=HOST, pid=os.getpid())
            assert str(other.holder) == f"pid {os.getpid()} on {HOST}"
        assert not held.lost.is_set()
    assert client.exists(lock_key("hb-job")) == 0  # released on the way out
    client.close()


def test_a_dead_holders_lock_expires_within_its_ttl(redis_server: LocalRedisServer) -> None:
    client = _client(redis_server)
    # What a holder killed mid-run leaves: its token, with the TTL it last renewed, no heartbeat.
    client.set(lock_key("dead-job"), f"{HOST}|pid=999999|abc", px=1000)
    with job_lock(client, "dead-job", 1) as refused:
        assert not refused.acquired
        assert refused.holder == LockHolder(host=HOST, pid=999999)
    time.sleep(1.5)
    with job_lock(client, "dead-job", 1) as free:
        assert free.acquired
    client.close()


def test_a_lock_held_by_an_unknown_token_is_refused_without_a_holder(
    redis_server: LocalRedisServer,
) -> None:
    client = _client(redis_server)
    client.set(lock_key("foreign-job"), "some-other-writer", px=5000)
    with job_lock(client, "foreign-job", 1) as refused:
        assert (refused.acquired, refused.holder) == (False, None)
    client.delete(lock_key("foreign-job"))
    client.close()


def test_a_run_left_running_is_recorded_as_crashed_by_the_next(tmp_path: Path) -> None:
    old = RunRecord(job="drift", started_at="t0", outcome="ok")
    append_record(tmp_path, old)
    dead = RunRecord(job="drift", started_at="t1", pid=4242, host="h1")
    append_record(tmp_path, dead)  # its "running" line; the process died before the outcome
    finished = RunRecord(job="drift", started_at="t2")
    append_record(tmp_path, finished)
    finished.outcome = "ok"
    append_record(tmp_path, finished)  # a run's later line replaces its earlier one
    assert [r.outcome for r in read_records(tmp_path, "drift")] == ["ok", "running", "ok"]

    current = RunRecord(job="drift", started_at="t3")
    append_record(tmp_path, current)
    crashed = record_crashed_runs(tmp_path, "drift", current)
    assert [r.run_id for r in crashed] == [dead.run_id]
    records = read_records(tmp_path, "drift")
    assert [(r.started_at, r.outcome) for r in records] == [
        ("t0", "ok"), ("t1", "crashed"), ("t2", "ok"), ("t3", "running")
    ]  # fmt: skip
    assert "pid 4242 on h1" in records[1].detail
    assert current.run_id in records[1].detail
    # Found once: once the current run ends, the next one finds nothing more.
    current.outcome = "ok"
    append_record(tmp_path, current)
    assert record_crashed_runs(tmp_path, "drift", RunRecord(job="drift", started_at="t4")) == []


def test_records_written_before_run_ids_read_as_runs_of_their_own(tmp_path: Path) -> None:
    (tmp_path / "drift.jsonl").write_bytes(
        b'{"job":"drift","started_at":"a","ended_at":"b","outcome":"ok","detail":"","produced":{}}\n'
        b'{"job":"drift","started_at":"c","ended_at":"d","outcome":"skipped","detail":"","produced":{}}\n'
    )
    records = read_records(tmp_path, "drift")
    assert [(r.started_at, r.outcome) for r in records] == [("a", "ok"), ("c", "skipped")]
    assert record_crashed_runs(tmp_path, "drift", RunRecord(job="drift", started_at="e")) == []
