"""A real, loadable LightGBM model small enough to train in milliseconds, for registry tests."""

from __future__ import annotations

import functools
from typing import Any

import lightgbm as lgb
import numpy as np


@functools.cache
def _model_text() -> bytes:
    x = np.arange(200, dtype=np.float64).reshape(-1, 1)
    y = (x[:, 0] > 100).astype(np.float64)
    params = {"objective": "binary", "verbose": -1, "num_leaves": 3, "min_data_in_leaf": 5}
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=2)
    return booster.model_to_string().encode()


def tiny_manifest() -> dict[str, Any]:
    """A manifest for ``tiny_files()``: one numeric feature, keyed by ``id``."""
    schema = {
        "feature_service": "fs",
        "join_keys": [{"name": "id", "type": "integer"}],
        "request_fields": [],
        "features": [{"name": "view__x", "kind": "numeric", "value_type": "DOUBLE"}],
    }
    window = {"start": "a", "end": "b", "holdout_start": "b"}
    window |= {"rows": 1, "train_rows": 1, "holdout_rows": 0}
    return {
        "created_at": "2026-01-01T00:00:00+00:00",
        "feast_schema": schema,
        "categorical_levels": {},
        "label_column": "y",
        "metrics": {"auc": 0.9},
        "training_window": window,
        "postprocess": {"threshold": 0.5, "labels": [0, 1]},
    }


def tiny_files(tag: str = "") -> dict[str, bytes]:
    """The version's files: a real model, and a reference file saying who wrote it."""
    return {"model.txt": _model_text(), "reference.json": f'"{tag}"'.encode()}
