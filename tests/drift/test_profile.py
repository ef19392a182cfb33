"""Reference profiles: quantile bins with open ends, a missing count, categorical counts."""

from __future__ import annotations

import numpy as np

from drift.profile import (
    NumericProfile,
    ReferenceProfile,
    build_profile,
    categorical_profile,
    numeric_profile,
)


def test_numeric_deciles_hold_a_tenth_each() -> None:
    values = np.arange(1000, dtype=float)
    profile = numeric_profile(np.r_[values, [np.nan] * 7])
    assert len(profile.edges) == 9
    assert profile.counts == [100] * 10
    assert profile.missing == 7


def test_numeric_constant_column_collapses_bins() -> None:
    profile = numeric_profile([5.0] * 10)
    assert profile.edges == [5.0, float(np.nextafter(5.0, np.inf))]
    assert profile.counts == [0, 10, 0]  # below, at, and above the only value


def test_categorical() -> None:
    profile = categorical_profile(["b", "a", None, "b", float("nan")])
    assert profile.counts == {"a": 1, "b": 2}
    assert profile.missing == 2


def test_build_profile_is_json_ready() -> None:
    profile = build_profile(
        {"x": np.array([1.0, 2.0, np.nan])}, {"c": ["u", "v", None]}, [0.1, 0.9, 0.5], ["x", "c"]
    )
    data = profile.to_dict()
    assert data["rows"] == 3
    assert list(data["features"]) == ["x", "c"]
    assert data["features"]["c"]["kind"] == "categorical"
    assert data["score"]["missing"] == 0


def test_profile_round_trips_and_reads_older_json() -> None:
    profile = build_profile(
        {"x": np.arange(5000, dtype=float)}, {"c": ["u", "v", None]}, [0.1, 0.9, 0.5], ["x", "c"]
    )
    data = profile.to_dict()
    assert len(data["features"]["x"]["sample"]) == 1000
    assert ReferenceProfile.from_dict(data) == profile
    del data["features"]["x"]["sample"], data["score"]["sample"]
    older = ReferenceProfile.from_dict(data)
    x = older.features["x"]
    assert isinstance(x, NumericProfile)
    assert x.sample is None
    assert x.counts == [500] * 10


def test_discrete_columns_get_a_bin_per_value() -> None:
    counts = np.r_[np.zeros(900), np.ones(60), np.full(40, 3.0)]
    profile = numeric_profile(counts)
    assert profile.edges == [0.0, 1.0, 3.0, float(np.nextafter(3.0, np.inf))]
    assert profile.counts == [0, 900, 60, 40, 0]


def test_a_point_mass_gets_its_own_bin() -> None:
    rng = np.random.default_rng(1)
    values = np.r_[np.zeros(7000), rng.exponential(50.0, 3000)]
    profile = numeric_profile(values)
    assert profile.counts[0] == 0  # nothing below zero
    assert profile.counts[1] == 7000  # exactly the zeros, in [0, next float after 0)
    assert len(profile.counts) > 8  # the positive values are split finely too
    assert sum(profile.counts) == 10_000
