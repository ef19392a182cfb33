"""Reading the schedule and window settings: ``every 10m``, crontab lines, ``24h``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import cast

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``24h``, ``7d`` as a timedelta."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m, 24h or 7d")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def parse_schedule(text: str) -> BaseTrigger | None:
    """``every <duration>`` or a five-field crontab line (UTC); empty means never."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("every "):
        return IntervalTrigger(seconds=parse_duration(text[6:]).total_seconds(), timezone="UTC")
    try:
        return CronTrigger.from_crontab(text, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"{text!r} is neither 'every <duration>' nor a crontab line") from exc


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
