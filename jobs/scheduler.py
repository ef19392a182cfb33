"""The scheduler: APScheduler triggers wired to :class:`JobRunner`, nothing more."""

from __future__ import annotations

import fcntl
import logging
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from jobs.runner import JobRunner
from jobs.triggers import longest_interval, parse_schedule
from scoring.durable import write_atomically
from scoring.log.job_runs import JobSchedule, parse_schedules, schedule_file, schedules_to_json
from scoring.settings import Settings

log = logging.getLogger(__name__)

# The job store persists jobs by textual reference, so the callable must be importable by name;
# it finds the runner of this process here. One scheduler process has one runner.
_runner: JobRunner | None = None


def fire(job: str) -> None:
    """Entry point the job store refers to: run ``job`` with this process's runner."""
    if _runner is None:
        raise RuntimeError("no JobRunner in this process: start it with run_scheduler()")
    record = _runner.run(job)
    log.info("%s: %s %s", job, record.outcome, record.detail)


def build_scheduler(settings: Settings, runner: JobRunner) -> BackgroundScheduler:
    """A scheduler with a persistent job store and one job per configured schedule."""
    global _runner
    _runner = runner
    store_path = settings.data_dir / "jobs" / "jobstore.sqlite"
    store_path.parent.mkdir(parents=True, exist_ok=True)
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{store_path}")},
        job_defaults={
            "max_instances": 1,
            "coalesce": True,
            "misfire_grace_time": settings.job_misfire_grace_s,
        },
        timezone="UTC",
    )
    schedules = {
        "materialize": settings.schedule_materialize,
        "drift": settings.schedule_drift,
        "retrain": settings.schedule_retrain,
    }
    # Schedulers started together on one data dir would race to create the store's table
    # ("table apscheduler_jobs already exists") and to write the jobs: one sets up at a time.
    with open(store_path.with_name("jobstore.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        scheduler.start(paused=True)  # loads the persisted jobs so they can be compared
        _write_jobs(scheduler, schedules)
        publish_schedules(schedule_file(settings.data_dir), schedules, datetime.now(UTC))
    return scheduler


def _write_jobs(scheduler: BackgroundScheduler, schedules: dict[str, str]) -> None:
    """Add, replace or remove the persisted jobs so that they match ``schedules``."""
    for job, text in schedules.items():
        trigger = parse_schedule(text)
        existing = scheduler.get_job(job)
        if trigger is None:
            if existing is not None:
                existing.remove()
            continue
        # Keep a persisted job (and its next run time, so downtime counts as a misfire)
        # unless its schedule changed.
        if existing is not None and str(existing.trigger) == str(trigger):
            continue
        scheduler.add_job(
            "jobs.scheduler:fire", trigger=trigger, args=[job], id=job, name=job,
            replace_existing=True,
        )  # fmt: skip


def publish_schedules(path: Path, schedules: dict[str, str], now: datetime) -> list[JobSchedule]:
    """Write the schedules in force where the service reads them, for its job metrics.

    A job keeps the ``since`` of an unchanged schedule, so that a scheduler restarting over
    and over does not hide a job that never succeeds.
    """
    try:
        previous = {(s.job, s.schedule): s.since for s in parse_schedules(path.read_bytes())}
    except (OSError, ValueError):
        previous = {}
    published = []
    for job, text in schedules.items():
        trigger = parse_schedule(text)
        interval = None if trigger is None else longest_interval(trigger, now)
        if interval is None:
            continue  # never runs, or once only: no schedule to fall behind
        since = previous.get((job, text.strip()), now.isoformat())
        published.append(JobSchedule(job, text.strip(), interval.total_seconds(), since))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, schedules_to_json(published))
    return published


def run_scheduler(settings: Settings) -> None:
    """Run the scheduler until SIGTERM or SIGINT, then let a running job finish."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    scheduler = build_scheduler(settings, JobRunner(settings))
    for job in scheduler.get_jobs():
        log.info("scheduled %s: %s (next %s)", job.id, job.trigger, job.next_run_time)
    scheduler.resume()
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
