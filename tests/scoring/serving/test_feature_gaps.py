"""Rows with nothing from the online store: counted per row, refused per request, warned rarely."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from scoring.errors import FeaturesAllMissing
from scoring.serving.feature_gaps import FeatureGaps, names_by_row, stale_matrix

NAMES = ["profile__a", "profile__b", "activity__c", "on_demand__d"]
STORED = np.array([True, True, True, False])


def model() -> Any:
    """The two things the rule reads of a model: its name and its feature order."""
    return SimpleNamespace(name="fraud", version=1, schema=SimpleNamespace(feature_names=NAMES))


def missing(*rows: str) -> np.ndarray:
    """One row per string, ``x`` where a feature is missing."""
    return np.array([[c == "x" for c in row] for row in rows], dtype=bool)


def test_a_row_counts_when_every_stored_feature_is_missing_whatever_on_demand_has() -> None:
    gaps = FeatureGaps()
    gaps.count(model(), missing("xxx.", "xx..", "xxxx", "...x"), None, STORED)
    assert gaps.rows_without_stored == {"fraud": 2}


def test_reject_refuses_a_request_only_when_no_row_has_a_stored_feature() -> None:
    gaps = FeatureGaps(reject=True)
    gaps.refuse_if_nothing_stored(model(), missing("xxx.", "x..."), STORED)  # a known entity
    with pytest.raises(FeaturesAllMissing, match="scorer materialize --full"):
        gaps.refuse_if_nothing_stored(model(), missing("xxx.", "xxxx"), STORED)
    FeatureGaps(reject=False).refuse_if_nothing_stored(model(), missing("xxxx"), STORED)


def test_without_stored_features_or_reader_knowledge_nothing_is_judged() -> None:
    gaps = FeatureGaps(reject=True)
    for stored in (None, np.zeros(4, dtype=bool)):
        gaps.count(model(), missing("xxxx"), None, stored)
        gaps.refuse_if_nothing_stored(model(), missing("xxxx"), stored)
    gaps.refuse_if_nothing_stored(model(), np.zeros((0, 4), dtype=bool), STORED)  # no rows
    assert gaps.rows_without_stored == {}


def test_names_by_row_lists_what_each_row_lacks_in_feature_order() -> None:
    assert names_by_row(missing("x..x", "....", ".x.."), NAMES) == [
        ["profile__a", "on_demand__d"],
        [],
        ["profile__b"],
    ]
    assert names_by_row(missing("....", "...."), NAMES) is None


def test_the_warning_comes_at_most_once_an_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="scoring.serving.feature_gaps")
    gaps = FeatureGaps(warn_interval_s=3600)
    for _ in range(5):
        gaps.count(model(), missing("xxx."), None, STORED)
    assert len(caplog.records) == 1
    assert "1 row(s)" in caplog.records[0].getMessage()
    often = FeatureGaps(warn_interval_s=0)
    for _ in range(3):
        often.count(model(), missing("xxx.", "xxx."), None, STORED)
    assert len(caplog.records) == 4
    assert "2 row(s)" in caplog.records[-1].getMessage()


def test_stale_values_are_counted_by_feature() -> None:
    stale = stale_matrix(NAMES, {"activity__c": [True, False, True]}, 3)
    assert stale is not None
    assert stale[:, 2].tolist() == [True, False, True]
    assert stale_matrix(NAMES, {}, 3) is None
    assert stale_matrix(NAMES, {"activity__c": [False, False]}, 2) is None
    gaps = FeatureGaps()
    gaps.count(model(), missing("..x.", "....", "..x."), stale, STORED)
    gaps.count(model(), missing("..x."), stale[:1], STORED)
    assert gaps.stale == {("fraud", "activity__c"): 3}
