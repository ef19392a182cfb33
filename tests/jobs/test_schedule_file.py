"""The schedule file the scheduler leaves for the service's job metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from jobs.runner import JobRunner
from jobs.scheduler import build_scheduler, publish_schedules
from jobs.triggers import longest_interval, parse_schedule
from scoring.log.job_runs import JobSchedule, parse_schedules, schedule_file
from scoring.settings import Settings

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def trigger_gap(text: str) -> timedelta | None:
    trigger = parse_schedule(text)
    assert trigger is not None
    return longest_interval(trigger, MONDAY)


def test_a_schedule_waits_at_most_its_longest_gap() -> None:
    assert trigger_gap("every 90m") == timedelta(minutes=90)
    assert trigger_gap("*/15 * * * *") == timedelta(minutes=15)
    # Weekdays at 02:00: Friday to Monday is the longest wait.
    assert trigger_gap("0 2 * * 1-5") == timedelta(days=3)
    # Yearly: the longest of the next years has a leap day (2028).
    assert trigger_gap("0 0 1 1 *") == timedelta(days=366)


def test_the_schedule_file_keeps_since_for_an_unchanged_schedule(tmp_path: Path) -> None:
    path = tmp_path / "schedule.json"
    first = publish_schedules(path, {"materialize": "every 1h", "retrain": ""}, MONDAY)
    assert first == [JobSchedule("materialize", "every 1h", 3600.0, MONDAY.isoformat())]
    later = MONDAY + timedelta(hours=5)
    again = publish_schedules(path, {"materialize": "every 1h", "drift": "every 1d"}, later)
    assert again == [
        JobSchedule("materialize", "every 1h", 3600.0, MONDAY.isoformat()),  # kept
        JobSchedule("drift", "every 1d", 86400.0, later.isoformat()),
    ]
    changed = publish_schedules(path, {"materialize": "every 2h"}, later)
    assert changed == [JobSchedule("materialize", "every 2h", 7200.0, later.isoformat())]
    assert parse_schedules(path.read_bytes()) == changed


def test_a_started_scheduler_publishes_its_schedules(settings: Settings, tmp_path: Path) -> None:
    own = settings.model_copy(
        update={"data_dir": tmp_path, "schedule_drift": "*/5 * * * *", "schedule_retrain": ""}
    )
    scheduler = build_scheduler(own, JobRunner(own))
    try:
        published = parse_schedules(schedule_file(tmp_path).read_bytes())
    finally:
        scheduler.shutdown(wait=False)
    assert {s.job: s.interval_s for s in published} == {"materialize": 3600.0, "drift": 300.0}
