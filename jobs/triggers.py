"""Reading the schedule and window settings: ``every 10m``, crontab lines, ``24h``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import cast

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from scoring.errors import InvalidSetting
from scoring.settings import Settings, variable_name

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


# The settings the jobs parse with the functions below, checked together before a job starts.
DURATION_SETTINGS = ("drift_window", "retrain_cooldown")
SCHEDULE_SETTINGS = ("schedule_materialize", "schedule_drift", "schedule_retrain")


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``24h``, ``7d`` as a timedelta."""
    match = _DURATION.match(text)
    if match is None:
        # The message starts with the value, so a caller can put the value's name before it.
        raise InvalidSetting(f"{text!r} is not a duration like 90s, 15m, 24h or 7d")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def parse_schedule(text: str) -> BaseTrigger | None:
    """``every <duration>`` or a five-field crontab line (UTC); empty means never."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("every "):
        try:
            every = parse_duration(text[6:])
        except InvalidSetting as exc:
            raise InvalidSetting(f"{text!r}: {exc}") from exc
        return IntervalTrigger(seconds=every.total_seconds(), timezone="UTC")
    try:
        return CronTrigger.from_crontab(text, timezone="UTC")
    except ValueError as exc:
        raise InvalidSetting(
            f"{text!r} is neither 'every <duration>' nor a crontab line ({exc})"
        ) from exc


def check_job_settings(settings: Settings) -> None:
    """Parse every duration and schedule the jobs read, so that a bad one stops a command
    before anything runs, with its variable named (a job would only fail later, recorded)."""
    for field in (*DURATION_SETTINGS, *SCHEDULE_SETTINGS):
        parse = parse_duration if field in DURATION_SETTINGS else parse_schedule
        try:
            parse(getattr(settings, field))
        except InvalidSetting as exc:
            raise InvalidSetting(f"{variable_name(field)}={exc}") from exc


def longest_interval(trigger: BaseTrigger, now: datetime, runs: int = 32) -> timedelta | None:
    """The longest wait between two of the next ``runs`` fire times; None if it never repeats.

    An interval's is its interval. A crontab line's waits differ (``0 2 * * 1-5`` waits three
    days over a weekend): alerts on a job that has not run for twice its schedule need the
    longest, or they would page every Monday.
    """
    if isinstance(trigger, IntervalTrigger):
        return cast(timedelta, trigger.interval)
    fire = trigger.get_next_fire_time(None, now)
    longest: timedelta | None = None
    for _ in range(runs):
        if fire is None:
            break
        following = trigger.get_next_fire_time(fire, fire)
        if following is None:
            break
        longest = max(longest or timedelta(0), following - fire)
        fire = following
    return longest
