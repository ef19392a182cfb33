"""Machine readings that put a run's absolute figures in context."""

from __future__ import annotations

from bench.machine import cpu_counters, reference_loop_ms, steal_pct


def test_steal_is_the_share_of_cpu_time_other_guests_took() -> None:
    before = [100, 0, 50, 800, 0, 0, 0, 50]
    after = [200, 0, 100, 950, 0, 0, 0, 150]  # 400 ticks spent, 100 of them stolen
    assert steal_pct(before, after) == 25.0
    assert steal_pct(before, before) is None  # no time passed
    assert steal_pct(None, after) is None


def test_readings_of_this_machine() -> None:
    counters = cpu_counters()
    assert counters is not None, "/proc/stat should be readable on Linux"
    assert len(counters) == 8
    share = steal_pct(counters, cpu_counters())
    assert share is None or 0.0 <= share <= 100.0
    assert reference_loop_ms(repeats=1) > 0.0
