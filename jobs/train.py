"""Training a LightGBM model on point-in-time features from Feast, and registering it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import orjson
import pandas as pd
from feast import FeatureStore

from drift.profile import build_profile
from features.schema import FeatureKind, ServiceSchema, service_schema
from features.training import EVENT_TIMESTAMP, historical_features
from scoring.errors import TrainingError
from scoring.model.classification import best_f1_threshold, log_loss, roc_auc
from scoring.model.encoding import categorical_levels, encode_matrix
from scoring.model.manifest import ModelManifest, PostProcessing
from scoring.model.registry import ModelRegistry

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_cat_to_onehot": 8,
    "seed": 17,
    "deterministic": True,
    "num_threads": 0,
    "verbose": -1,
}

MIN_ROWS = 50
MAX_CATEGORY_LEVELS = 1000

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainingResult:
    """The registered version and how it did on the holdout."""

    manifest: ModelManifest
    promoted: bool
    holdout: pd.DataFrame
    """The holdout rows with their features and label, for comparing against other versions."""


def read_labels(path: Path) -> pd.DataFrame:
    """Read a labels file (Parquet or CSV) as an entity data frame."""
    if not path.is_file():
        raise TrainingError(f"labels file {path} does not exist")
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise TrainingError(f"labels file {path} must be .parquet or .csv")


def _check_labels(labels: pd.DataFrame, schema: ServiceSchema, label_column: str) -> list[Any]:
    needed = [k.name for k in schema.join_keys] + [f.name for f in schema.request_fields]
    absent = [c for c in [*needed, EVENT_TIMESTAMP, label_column] if c not in labels.columns]
    if absent:
        raise TrainingError(
            f"labels lack column(s) {absent}; feature service {schema.feature_service!r} needs "
            f"join keys and request fields {needed}, plus {EVENT_TIMESTAMP!r} and the label"
        )
    if labels[label_column].isna().any():
        raise TrainingError(f"label column {label_column!r} has missing values")
    classes = sorted(labels[label_column].unique().tolist())
    if len(classes) != 2:
        raise TrainingError(
            f"label column {label_column!r} must hold exactly two classes (binary "
            f"classification); found {len(classes)}: {classes[:10]}"
        )
    if len(labels) < MIN_ROWS:
        raise TrainingError(f"need at least {MIN_ROWS} labelled rows, got {len(labels)}")
    return classes


def train_model(
    store: FeatureStore,
    registry: ModelRegistry,
    *,
    model_name: str,
    feature_service: str,
    labels: pd.DataFrame,
    label_column: str = "label",
    holdout_fraction: float = 0.2,
    params: Mapping[str, Any] | None = None,
    num_boost_round: int = 2000,
    promote: bool = False,
    labels_source: str | None = None,
    progress: Progress | None = None,
) -> TrainingResult:
    """Train on Feast's point-in-time features for ``labels``, register, optionally promote."""
    say = progress or (lambda _msg: None)
    schema = service_schema(store, feature_service)
    classes = _check_labels(labels, schema, label_column)

    say(f"fetching point-in-time features of {feature_service} for {len(labels):,} rows")
    frame = historical_features(store, feature_service, schema, labels, label_column)
    frame = frame.sort_values(EVENT_TIMESTAMP, kind="stable").reset_index(drop=True)
    absent = [n for n in schema.feature_names if n not in frame.columns]
    if absent:
        raise TrainingError(f"Feast returned no column for {absent}")

    n = len(frame)
    n_holdout = max(1, int(n * holdout_fraction))
    n_train = n - n_holdout
    n_valid = max(1, n_train // 10)
    train = frame.iloc[:n_train]
    y = (frame[label_column] == classes[1]).to_numpy(dtype=np.float64)
    y_train, y_holdout = y[:n_train], y[n_train:]
    if len(np.unique(y_holdout)) < 2 or len(np.unique(y_train)) < 2:
        raise TrainingError("both classes must occur before and after the holdout split")

    levels = {
        s.name: categorical_levels(train[s.name], MAX_CATEGORY_LEVELS)
        for s in schema.features
        if s.kind is FeatureKind.CATEGORICAL
    }
    matrix, _ = encode_matrix(
        schema.features, {c: frame[c] for c in schema.feature_names}, levels, n
    )
    categorical = [j for j, s in enumerate(schema.features) if s.kind is FeatureKind.CATEGORICAL]

    say(f"training LightGBM on {n_train:,} rows, {len(schema.features)} features")
    all_params = {**DEFAULT_PARAMS, **(params or {})}
    fit_rows = n_train - n_valid
    dtrain = lgb.Dataset(
        matrix[:fit_rows],
        y_train[:fit_rows],
        feature_name=list(schema.feature_names),
        categorical_feature=categorical,
        free_raw_data=False,
    )
    dvalid = lgb.Dataset(matrix[fit_rows:n_train], y_train[fit_rows:], reference=dtrain)
    booster = lgb.train(
        all_params,
        dtrain,
        num_boost_round=num_boost_round,
        valid_sets=[dvalid],
        callbacks=[lgb.early_stopping(50, verbose=False)],
    )
    booster.free_dataset()

    scores = np.asarray(booster.predict(matrix[n_train:], num_threads=0), dtype=np.float64)
    metrics = {
        "auc": roc_auc(y_holdout, scores),
        "log_loss": log_loss(y_holdout, scores),
        "holdout_positive_rate": float(y_holdout.mean()),
        "best_iteration": float(booster.best_iteration or booster.current_iteration()),
    }
    threshold = best_f1_threshold(y_holdout, scores)
    say(f"holdout AUC {metrics['auc']:.4f}, log loss {metrics['log_loss']:.4f}")

    # Features profiled over all training rows; scores over the holdout only, because
    # serving scores are out-of-sample too and in-sample scores are over-confident.
    numeric = {
        s.name: matrix[:, j]
        for j, s in enumerate(schema.features)
        if s.kind is not FeatureKind.CATEGORICAL
    }
    categorical_raw = {name: frame[name].tolist() for name in levels}
    profile = build_profile(
        numeric, categorical_raw, scores, schema.feature_names, meta={"score_rows": len(scores)}
    )

    stamps = frame[EVENT_TIMESTAMP]
    manifest = {
        "created_at": datetime.now(UTC).isoformat(),
        "feast_schema": schema.to_dict(),
        "categorical_levels": levels,
        "label_column": label_column,
        "metrics": metrics,
        "training_window": {
            "start": stamps.iloc[0].isoformat(),
            "end": stamps.iloc[-1].isoformat(),
            "rows": n,
            "train_rows": n_train,
            "holdout_rows": n_holdout,
            "holdout_start": stamps.iloc[n_train].isoformat(),
        },
        "postprocess": PostProcessing(threshold=threshold, labels=(classes[0], classes[1])),
        "params": {**all_params, "num_boost_round": booster.current_iteration()},
        "labels_source": labels_source,
    }
    registered = registry.register(
        model_name,
        files={
            "model.txt": booster.model_to_string().encode(),
            "reference.json": orjson.dumps(profile.to_dict(), option=orjson.OPT_INDENT_2),
        },
        manifest=manifest,
    )
    if promote:
        registry.set_alias(model_name, "champion", registered.version)
    say(f"registered {model_name} v{registered.version}" + (" as champion" if promote else ""))
    holdout = frame.iloc[n_train:].reset_index(drop=True)
    return TrainingResult(manifest=registered, promoted=promote, holdout=holdout)
