"""Machine readings that put a run's absolute figures in context."""

from __future__ import annotations

from pathlib import Path

from bench.machine import cpu_counters, steal_pct

_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def test_steal_is_the_share_of_cpu_time_other_guests_took() -> None:
    before = [100, 0, 50, 800, 0, 0, 0, 50]
    after = [200, 0, 100, 950, 0, 0, 0, 150]  # 400 ticks spent, 100 of them stolen
    assert steal_pct(before, after) == 25.0
    assert steal_pct(before, before) is None  # no time passed
    assert steal_pct(None, after) is None


def _cpu_line() -> list[int]:
    """The machine-wide ``cpu`` line of ``/proc/stat``, read by the test itself."""
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name == "cpu":
            return [int(v) for v in values]
    raise AssertionError("/proc/stat has no cpu line")


def test_counters_are_the_machine_wide_cpu_line() -> None:
    # Counters only grow, so a reading taken between two of the test's own is bracketed by
    # them, field by field; one core's line, or fields shifted by one, would fall outside.
    before = _cpu_line()
    counters = cpu_counters()
    after = _cpu_line()
    assert counters is not None
    assert len(counters) == 8
    for name, low, value, high in zip(_FIELDS, before, counters, after, strict=False):
        assert low <= value <= high, name
