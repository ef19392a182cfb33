"""Encoding Feast values for LightGBM: the same result from online lists and offline frames."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from features.schema import FeatureKind, FeatureSpec
from scoring.model.encoding import categorical_levels, encode_column, encode_matrix

NUM = FeatureSpec("v__n", FeatureKind.NUMERIC, "INT64")
BOOL = FeatureSpec("v__b", FeatureKind.BOOLEAN, "BOOL")
CAT = FeatureSpec("v__c", FeatureKind.CATEGORICAL, "STRING")
TS = FeatureSpec("v__t", FeatureKind.TIMESTAMP, "UNIX_TIMESTAMP")


def test_numeric_none_and_nan_are_missing() -> None:
    got = encode_column(NUM, [1, None, 2.5, float("nan")])
    np.testing.assert_array_equal(got, [1.0, np.nan, 2.5, np.nan])


def test_boolean() -> None:
    np.testing.assert_array_equal(encode_column(BOOL, [True, False, None]), [1.0, 0.0, np.nan])
    offline = pd.Series([np.True_, np.False_, None], dtype=object)
    np.testing.assert_array_equal(encode_column(BOOL, offline), [1.0, 0.0, np.nan])


def test_categorical_codes_and_unseen() -> None:
    got = encode_column(CAT, ["b", "a", "zzz", None], levels=["a", "b"])
    np.testing.assert_array_equal(got, [1.0, 0.0, np.nan, np.nan])


def test_timestamp_seconds() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    np.testing.assert_array_equal(encode_column(TS, [when, None]), [when.timestamp(), np.nan])


def test_online_lists_and_offline_frame_encode_alike() -> None:
    online = {"v__n": [3, None], "v__c": ["a", None], "v__b": [True, None]}
    offline = pd.DataFrame({"v__n": [3.0, np.nan], "v__c": ["a", None], "v__b": [True, None]})
    specs = [NUM, CAT, BOOL]
    a, missing_a = encode_matrix(specs, online, {"v__c": ["a"]}, 2)
    b, missing_b = encode_matrix(specs, {c: offline[c] for c in offline}, {"v__c": ["a"]}, 2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(missing_a, missing_b)
    assert missing_a.tolist() == [[False, False, False], [True, True, True]]


def test_levels_most_frequent_first_and_capped() -> None:
    assert categorical_levels(["x", "y", "y", None, "z", "y", "x"], max_levels=2) == ["y", "x"]
