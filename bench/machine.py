"""How busy and how fast the machine was during a run, so that runs on shared hosts compare.

A virtual machine's neighbours take CPU time away from it ("steal", in ``/proc/stat``): a
run that lost a third of its CPU time to them measures a different machine than one that
lost none. Ratios between subjects measured in the same run hold either way; absolute
figures (milliseconds, requests per second) do not, and this says by how much to doubt them.
"""

from __future__ import annotations

import time
from pathlib import Path

_PROC_STAT = Path("/proc/stat")
_STEAL = 7
"""Position of ``steal`` among the ``cpu`` line's counters (user nice system idle iowait irq
softirq steal ...)."""


def cpu_counters() -> list[int] | None:
    """The machine-wide CPU time counters of ``/proc/stat``, or None where there are none."""
    try:
        first = _PROC_STAT.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if not first or first[0] != "cpu":
        return None
    return [int(value) for value in first[1:9]]


def steal_pct(before: list[int] | None, after: list[int] | None) -> float | None:
    """Share of the machine's CPU time taken by other guests between two readings, in %."""
    if before is None or after is None or len(before) <= _STEAL or len(after) <= _STEAL:
        return None
    spent = sum(after) - sum(before)
    if spent <= 0:
        return None
    return (after[_STEAL] - before[_STEAL]) / spent * 100.0


def reference_loop_ms(repeats: int = 3) -> float:
    """Best time of a fixed pure-Python loop: lower is a faster (or quieter) machine."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        total = 0
        for i in range(2_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best * 1000.0
