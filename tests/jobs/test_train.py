"""Training: what the stored version says about its holdout, and the labels it refuses."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from scipy import stats

from features.store import open_feature_store
from features.training import EVENT_TIMESTAMP
from jobs.train import MIN_ROWS, TrainingResult, train_model
from scoring.errors import TrainingError
from scoring.model.registry import ModelRegistry
from scoring.settings import Settings
from tests.utils.repo import DemoRepo


def _holdout_scores(settings: Settings, trained: TrainingResult) -> npt.NDArray[np.float64]:
    """The stored booster's scores of the holdout rows, encoded here from the raw features."""
    manifest = trained.manifest
    folder = ModelRegistry(settings.models_dir).version_dir("fraud", manifest.version)
    booster = lgb.Booster(model_file=str(folder / manifest.model_file))
    columns = []
    for name in booster.feature_name():
        values = trained.holdout[name].astype(object)
        if name in manifest.categorical_levels:
            codes = {level: float(i) for i, level in enumerate(manifest.categorical_levels[name])}
            encoded = [codes.get(v, np.nan) if isinstance(v, str) else np.nan for v in values]
        else:  # numbers and flags; None, NaN and pandas' NA are missing
            encoded = [np.nan if pd.isna(v) else float(v) for v in values]
        columns.append(encoded)
    matrix = np.array(columns, dtype=np.float64).T
    return np.asarray(booster.predict(matrix), dtype=np.float64)


def _f1(y: npt.NDArray[np.bool_], scores: npt.NDArray[np.float64], threshold: float) -> Fraction:
    """F1 of labelling positive every score at or above ``threshold``, as an exact fraction."""
    predicted = scores >= threshold
    tp = int((predicted & y).sum())
    fp = int((predicted & ~y).sum())
    fn = int((~predicted & y).sum())
    return Fraction(2 * tp, 2 * tp + fp + fn)


def test_the_stored_threshold_is_the_best_f1_cut_of_the_holdout(
    settings: Settings, trained: TrainingResult
) -> None:
    manifest = trained.manifest
    y = (trained.holdout[manifest.label_column] == manifest.postprocess.labels[1]).to_numpy()
    scores = _holdout_scores(settings, trained)
    assert len(scores) == manifest.training_window.holdout_rows

    # Every distinct holdout score is a candidate cut: brute force, no shortcut.
    f1 = {float(t): _f1(y, scores, float(t)) for t in np.unique(scores)}
    best = max(f1.values())
    threshold = manifest.postprocess.threshold
    assert threshold in f1, "the threshold must be one of the holdout's own scores"
    assert f1[threshold] == best
    assert manifest.postprocess.threshold_rule == "max_f1_on_holdout"
    # On this data the best cut is well below one half, where a default 0.5 does worse.
    assert threshold < 0.4
    assert _f1(y, scores, 0.5) < best


def test_the_stored_auc_is_the_holdout_auc(settings: Settings, trained: TrainingResult) -> None:
    manifest = trained.manifest
    y = (trained.holdout[manifest.label_column] == manifest.postprocess.labels[1]).to_numpy()
    scores = _holdout_scores(settings, trained)
    u = stats.mannwhitneyu(scores[y], scores[~y]).statistic
    assert manifest.metrics["auc"] == pytest.approx(u / (y.sum() * (~y).sum()), rel=1e-12)
    assert manifest.metrics["holdout_positive_rate"] == pytest.approx(y.mean())


def test_the_holdout_is_the_latest_fifth_of_the_labels(
    trained: TrainingResult, demo_repo: DemoRepo
) -> None:
    window = trained.manifest.training_window
    labels = demo_repo.data.transactions
    assert window.rows == len(labels)
    assert window.holdout_rows == len(trained.holdout) == int(len(labels) * 0.2)
    assert window.train_rows == window.rows - window.holdout_rows
    holdout_stamps = pd.to_datetime(trained.holdout[EVENT_TIMESTAMP], utc=True)
    assert holdout_stamps.min() == pd.Timestamp(window.holdout_start)
    assert holdout_stamps.max() == labels[EVENT_TIMESTAMP].max()
    # Out of time: no training row is later than the first holdout row.
    later = labels[EVENT_TIMESTAMP] > holdout_stamps.min()
    assert later.sum() <= window.holdout_rows


def _small_labels(demo_repo: DemoRepo, rows: int = 500) -> pd.DataFrame:
    return demo_repo.data.transactions.sort_values(EVENT_TIMESTAMP).head(rows).copy()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(lambda f: f.assign(is_fraud=0), "exactly two classes", id="one-class"),
        pytest.param(
            lambda f: f.assign(is_fraud=np.arange(len(f)) % 3),
            "exactly two classes",
            id="three-classes",
        ),
        pytest.param(
            lambda f: f.assign(is_fraud=f["is_fraud"].where(f.index % 7 != 0)),
            "missing values",
            id="missing-label",
        ),
        pytest.param(
            lambda f: f.drop(columns=["merchant_id"]),
            r"lack column\(s\) \['merchant_id'\]",
            id="no-join-key",
        ),
        pytest.param(
            lambda f: f.drop(columns=[EVENT_TIMESTAMP]),
            r"lack column\(s\) \['event_timestamp'\]",
            id="no-timestamp",
        ),
        pytest.param(
            lambda f: f.drop(columns=["amount"]),
            r"lack column\(s\) \['amount'\]",
            id="no-request-field",
        ),
        pytest.param(
            lambda f: f.head(MIN_ROWS - 1).assign(is_fraud=np.arange(MIN_ROWS - 1) % 2),
            f"at least {MIN_ROWS}",
            id="too-few-rows",
        ),
    ],
)
def test_labels_a_binary_model_cannot_learn_from_are_refused_before_anything_is_registered(
    demo_repo: DemoRepo,
    tmp_path: Path,
    change: Any,
    message: str,
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    store = open_feature_store(demo_repo.path, demo_repo.online_store)
    with pytest.raises(TrainingError, match=message):
        train_model(
            store,
            registry,
            model_name="fraud",
            feature_service="fraud_v1",
            labels=change(_small_labels(demo_repo)),
            label_column="is_fraud",
        )
    assert registry.models() == []
