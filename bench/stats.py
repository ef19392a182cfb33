"""Latency summaries: percentiles of a sample of durations, in milliseconds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

DEFAULT_PERCENTILES = (50.0, 90.0, 99.0)


def percentile_key(q: float) -> str:
    """The name a percentile goes by in results: 50 -> ``p50_ms``, 99.9 -> ``p99.9_ms``."""
    return f"p{q:g}_ms"


def summarize_ms(
    values_ms: Sequence[float] | Iterable[float],
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> dict[str, float | int | None]:
    """Count, percentiles (linear interpolation), mean and max of durations in milliseconds.

    An empty sample gives ``None`` for every statistic rather than raising: a run where every
    request failed still has a row in the report.
    """
    array = np.fromiter(values_ms, dtype=np.float64)
    summary: dict[str, float | int | None] = {"count": int(array.size)}
    if array.size == 0:
        summary.update({percentile_key(q): None for q in percentiles})
        summary.update({"mean_ms": None, "max_ms": None})
        return summary
    for q, value in zip(percentiles, np.percentile(array, percentiles), strict=True):
        summary[percentile_key(q)] = float(value)
    summary["mean_ms"] = float(array.mean())
    summary["max_ms"] = float(array.max())
    return summary


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or ``None`` when either is missing or the divisor is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator
