"""Latency summaries and ratios."""

from __future__ import annotations

import pytest

from bench.stats import percentile_key, ratio, summarize_ms


def test_percentiles_interpolate_between_samples() -> None:
    summary = summarize_ms(range(1, 101), (50.0, 90.0, 99.9))
    assert summary["count"] == 100
    assert summary["p50_ms"] == pytest.approx(50.5)
    assert summary["p90_ms"] == pytest.approx(90.1)
    assert summary["p99.9_ms"] == pytest.approx(99.901)
    assert summary["mean_ms"] == pytest.approx(50.5)
    assert summary["max_ms"] == 100


def test_an_empty_sample_has_no_statistics() -> None:
    summary = summarize_ms([])
    assert summary == {"count": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None,
                       "mean_ms": None, "max_ms": None}  # fmt: skip


def test_names_and_ratios() -> None:
    assert percentile_key(99) == "p99_ms"
    assert percentile_key(99.9) == "p99.9_ms"
    assert ratio(3.0, 1.5) == 2.0
    assert ratio(None, 1.0) is None
    assert ratio(1.0, 0.0) is None
