"""Feature values (from Feast online or offline) to the float matrix a LightGBM model takes.

Training and serving both go through :func:`encode_column`, so a value means the same thing
in both places: the usual cause of training/serving skew is two encoders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.schema import FeatureKind, FeatureSpec

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def missing_mask(values: Sequence[Any] | pd.Series) -> BoolArray:
    """True where a raw value is absent (``None``, NaN or NaT)."""
    return np.asarray(pd.isna(pd.Series(values, dtype=object)), dtype=bool)


def encode_column(
    spec: FeatureSpec, values: Sequence[Any] | pd.Series, levels: Sequence[str] | None = None
) -> FloatArray:
    """Encode one feature column; missing and unseen values become NaN."""
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    if spec.kind is FeatureKind.NUMERIC:
        encoded = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    elif spec.kind is FeatureKind.BOOLEAN:
        mapped = series.astype(object).map({True: 1.0, False: 0.0})
        encoded = pd.to_numeric(mapped, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    elif spec.kind is FeatureKind.CATEGORICAL:
        codes = pd.Categorical(series.astype(object), categories=list(levels or ())).codes
        encoded = codes.astype(np.float64)
        encoded[codes < 0] = np.nan
    else:  # TIMESTAMP: seconds since the epoch
        stamps = pd.to_datetime(series, utc=True, errors="coerce")
        encoded = np.where(
            stamps.isna(), np.nan, stamps.astype("int64", errors="ignore").to_numpy() / 1e9
        ).astype(np.float64)
    return np.asarray(encoded, dtype=np.float64)


def encode_matrix(
    specs: Sequence[FeatureSpec],
    columns: Mapping[str, Sequence[Any] | pd.Series],
    levels: Mapping[str, Sequence[str]],
    rows: int,
) -> tuple[FloatArray, BoolArray]:
    """The ``rows x features`` matrix in ``specs`` order, and where the raw value was missing."""
    matrix = np.empty((rows, len(specs)), dtype=np.float64)
    missing = np.zeros((rows, len(specs)), dtype=bool)
    for j, spec in enumerate(specs):
        values = columns.get(spec.name)
        if values is None:
            matrix[:, j] = np.nan
            missing[:, j] = True
            continue
        matrix[:, j] = encode_column(spec, values, levels.get(spec.name))
        missing[:, j] = missing_mask(values)
    return matrix, missing


def categorical_levels(values: Sequence[Any] | pd.Series, max_levels: int) -> list[str]:
    """Levels of a categorical column, most frequent first, at most ``max_levels``.

    Rarer levels are left out on purpose: at serving time they score as unseen (missing),
    which is what LightGBM learned for the long tail anyway.
    """
    series = pd.Series(values, dtype=object).dropna().astype(str)
    return [str(v) for v in series.value_counts().index[:max_levels]]
