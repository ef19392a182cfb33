"""Window histograms merge by addition: the sum of two windows is the window of both."""

from __future__ import annotations

import numpy as np
import pytest

from drift.counts import (
    MAX_UNSEEN_NAMES,
    CategoricalCounts,
    LabelledScores,
    NumericCounts,
    ValueBuffer,
)
from drift.profile import categorical_profile, numeric_profile


def test_numeric_merge_equals_counts_of_the_concatenation() -> None:
    rng = np.random.default_rng(1)
    profile = numeric_profile(rng.normal(size=5000))
    a = np.r_[rng.normal(size=300), [np.nan] * 4]
    b = rng.normal(1.0, 2.0, size=500)
    left, right, whole = (NumericCounts.on(profile, 1000) for _ in range(3))
    left.add(a)
    right.add(b)
    whole.add(np.r_[a, b])
    merged = left + right
    assert np.array_equal(merged.counts, whole.counts)
    assert merged.missing == whole.missing == 4
    values = merged.values()
    assert values is not None
    assert np.array_equal(np.sort(values), np.sort(whole.values()))  # type: ignore[arg-type]


def test_value_buffer_drops_its_values_past_capacity() -> None:
    buffer = ValueBuffer(capacity=10)
    buffer.add(np.arange(6.0))
    assert buffer.values() is not None
    buffer.add(np.arange(6.0))
    assert buffer.values() is None
    small = ValueBuffer(10)
    small.add(np.arange(6.0))
    assert (small + small).values() is None


def test_categorical_merge_keeps_unseen_bounded_and_its_total_exact() -> None:
    profile = categorical_profile(["a", "b", "b", None])
    left, right, whole = (CategoricalCounts.on(profile) for _ in range(3))
    first = {"a": 3, "b": 1} | {f"new{i}": 1 for i in range(80)}
    second = {"b": 2} | {f"other{i}": 2 for i in range(80)}
    left.add(first, missing=2)
    right.add(second, missing=1)
    whole.add(first, missing=2)
    whole.add(second, missing=1)
    merged = left + right
    assert list(merged.counts) == list(whole.counts) == [3, 3]
    assert merged.missing == whole.missing == 3
    assert merged.unseen_total == whole.unseen_total == 80 + 160
    assert len(merged.unseen) == MAX_UNSEEN_NAMES


def test_labelled_scores_merge() -> None:
    rng = np.random.default_rng(2)
    scores, labels = rng.random(1000), rng.random(1000) < 0.3
    left, right, whole = LabelledScores(), LabelledScores(), LabelledScores()
    left.add(scores[:400], labels[:400])
    right.add(scores[400:], labels[400:])
    whole.add(scores, labels)
    merged = left + right
    assert np.array_equal(merged.positive, whole.positive)
    assert np.array_equal(merged.negative, whole.negative)
    assert merged.rows == 1000


def test_small_windows_get_the_exact_ks_against_the_reference_sample() -> None:
    from scipy import stats as scipy_stats

    from drift.compare import numeric_stats

    rng = np.random.default_rng(3)
    profile = numeric_profile(rng.normal(size=20_000))
    current = rng.normal(0.3, 1.0, size=800)
    counts = NumericCounts.on(profile, 5000)
    counts.add(current)
    stats = numeric_stats("x", "numeric", profile, counts)
    assert stats.ks_method == "exact"
    assert profile.sample is not None
    expected = scipy_stats.ks_2samp(profile.sample, current).statistic
    assert stats.ks == pytest.approx(expected)
    big = NumericCounts.on(profile, 100)
    big.add(current)
    assert numeric_stats("x", "numeric", profile, big).ks_method == "binned"
