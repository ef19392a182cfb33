"""Schedules, run records, the Redis job lock and the persistent scheduler, without waiting."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from jobs.demo.redis_server import LocalRedisServer
from jobs.drift_check import load_policy
from jobs.lock import HOST, job_lock
from jobs.records import RunRecord, append_record, read_records
from jobs.runner import JobRunner
from jobs.scheduler import build_scheduler
from jobs.triggers import parse_duration, parse_schedule
from scoring.settings import Settings


def test_durations_and_schedules() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("24h") == timedelta(hours=24)
    assert parse_duration("1.5d") == timedelta(days=1.5)
    with pytest.raises(ValueError, match="duration"):
        parse_duration("soon")
    assert parse_schedule("") is None
    assert "interval[0:10:00]" in str(parse_schedule("every 10m"))
    assert "cron[" in str(parse_schedule("*/5 * * * *"))
    with pytest.raises(ValueError, match="crontab"):
        parse_schedule("whenever")


def test_records_survive_a_torn_last_line(tmp_path: Path) -> None:
    append_record(tmp_path, RunRecord(job="drift", started_at="a", outcome="ok"))
    append_record(tmp_path, RunRecord(job="drift", started_at="b", outcome="failed", detail="x"))
    with open(tmp_path / "drift.jsonl", "ab") as file:
        file.write(b'{"job": "drift", "start')  # a crash mid-write
    records = read_records(tmp_path, "drift")
    assert [(r.started_at, r.outcome) for r in records] == [("a", "ok"), ("b", "failed")]


def test_only_one_holder_of_a_job_lock(redis_server: LocalRedisServer) -> None:
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    held: list[bool] = []
    inside = threading.Event()
    release = threading.Event()

    def first() -> None:
        with job_lock(client, "demo-job", 30) as got:
            held.append(got.acquired)
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait(10)
    with job_lock(client, "demo-job", 30) as second:
        assert not second.acquired
    release.set()
    thread.join()
    with job_lock(client, "demo-job", 30) as again:
        assert again.acquired
    assert held == [True]
    client.close()


def test_a_locked_job_is_skipped_and_recorded(settings: Settings, tmp_path: Path) -> None:
    own = settings.model_copy(update={"data_dir": tmp_path})
    client = redis.Redis.from_url(own.service_redis_url())
    with job_lock(client, "materialize", 30):
        record = JobRunner(own).run("materialize")
    assert record.outcome == "skipped"
    assert f"pid {os.getpid()} on {HOST}" in record.detail  # who holds it, really held
    assert read_records(tmp_path / "jobs" / "runs", "materialize")[0].outcome == "skipped"
    done = JobRunner(own).run("materialize")
    assert done.outcome == "ok", done.detail
    assert set(done.produced["feature_views"]) == {
        "customer_profile", "customer_activity", "merchant_risk"
    }  # fmt: skip
    client.close()


def test_a_failing_job_leaves_a_failed_record(settings: Settings, tmp_path: Path) -> None:
    own = settings.model_copy(update={"data_dir": tmp_path})
    record = JobRunner(own).run("retrain", ["nope"])
    assert record.outcome == "failed"
    assert "nope" in record.detail
    with pytest.raises(ValueError, match="unknown job"):
        JobRunner(own).run("dance")


def test_scheduler_keeps_persisted_jobs_and_their_next_run(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, schedule_drift="every 1h", schedule_retrain="")
    first = build_scheduler(settings, JobRunner(settings))
    jobs = {job.id: job for job in first.get_jobs()}
    assert set(jobs) == {"materialize", "drift"}
    next_drift = jobs["drift"].next_run_time
    assert jobs["drift"].max_instances == 1
    first.shutdown(wait=False)

    # A restart with the same schedule keeps the stored next run time (downtime = misfire).
    again = build_scheduler(settings, JobRunner(settings))
    assert again.get_job("drift").next_run_time == next_drift
    again.shutdown(wait=False)

    # A changed schedule replaces the job; an emptied one removes it.
    changed = settings.model_copy(
        update={"schedule_drift": "*/5 * * * *", "schedule_materialize": ""}
    )
    third = build_scheduler(changed, JobRunner(changed))
    assert {job.id for job in third.get_jobs()} == {"drift"}
    assert "cron[" in str(third.get_job("drift").trigger)
    third.shutdown(wait=False)


def _start_at_once(settings: Settings, together: threading.Barrier) -> set[str]:
    together.wait()
    scheduler = build_scheduler(settings, JobRunner(settings))
    try:
        return {job.id for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)


def test_schedulers_started_together_on_a_new_data_dir_all_start(tmp_path: Path) -> None:
    # Without the set-up lock, six at once raced to create the job store's table.
    for attempt in range(3):
        settings = Settings(data_dir=tmp_path / str(attempt))
        together = threading.Barrier(6, timeout=30)
        with ThreadPoolExecutor(6) as pool:
            started = [pool.submit(_start_at_once, settings, together) for _ in range(6)]
            assert [f.result(timeout=60) for f in started] == [{"materialize", "drift"}] * 6


def test_policy_file_overrides_defaults(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    policy = load_policy(path, timedelta(hours=6), {"a": 1.0})
    assert policy.cooldown == timedelta(hours=6)
    assert policy.importance == {"a": 1.0}
    path.write_text('{"psi_significant": 0.3, "cooldown": "1d", "ignore": ["b"]}')
    policy = load_policy(path, timedelta(hours=6), {})
    assert (policy.psi_significant, policy.cooldown) == (0.3, timedelta(days=1))
    assert policy.ignore == frozenset({"b"})
    path.write_text('{"psi_huge": 1}')
    with pytest.raises(ValueError, match="psi_huge"):
        load_policy(path, timedelta(hours=6), {})
