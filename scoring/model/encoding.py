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
    if isinstance(values, pd.Series):
        return np.asarray(values.isna(), dtype=bool)
    # NaN is the one value not equal to itself; NaT too.
    return np.fromiter((v is None or v != v for v in values), dtype=bool, count=len(values))


def level_index(levels: Sequence[str]) -> dict[str, float]:
    """Category -> code, for encoding many rows against the same levels."""
    return {level: float(code) for code, level in enumerate(levels)}


def _encode_list(
    spec: FeatureSpec, values: Sequence[Any], index: Mapping[str, float]
) -> FloatArray:
    # Online reads come as short lists of Python values: plain loops beat building pandas
    # objects by an order of magnitude at these sizes. Same results as the pandas path below
    # (tested), which training uses on whole frames.
    nan = np.nan
    if spec.kind is FeatureKind.CATEGORICAL:
        encoded = [index.get(v, nan) if isinstance(v, str) else nan for v in values]
    elif spec.kind is FeatureKind.TIMESTAMP:
        encoded = [nan if v is None or v != v else pd.Timestamp(v).timestamp() for v in values]
    else:  # NUMERIC and BOOLEAN: float(True) is 1.0
        try:
            return np.array(values, dtype=np.float64)  # None becomes NaN, in one C loop
        except (TypeError, ValueError):
            encoded = [nan if v is None else float(v) for v in values]
    return np.array(encoded, dtype=np.float64)


def encode_column(
    spec: FeatureSpec,
    values: Sequence[Any] | pd.Series,
    levels: Sequence[str] | None = None,
    index: Mapping[str, float] | None = None,
) -> FloatArray:
    """Encode one feature column; missing and unseen values become NaN.

    ``index`` (from :func:`level_index`) saves rebuilding the category codes on every call.
    """
    if not isinstance(values, pd.Series):
        return _encode_list(spec, values, index if index is not None else level_index(levels or ()))
    series = values
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
    indexes: Mapping[str, Mapping[str, float]] | None = None,
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
        index = indexes.get(spec.name) if indexes is not None else None
        matrix[:, j] = encode_column(spec, values, levels.get(spec.name), index)
        if spec.kind is FeatureKind.CATEGORICAL or isinstance(values, pd.Series):
            missing[:, j] = missing_mask(values)
        else:  # these encode a raw value to NaN exactly when it is missing (None or NaN)
            missing[:, j] = np.isnan(matrix[:, j])
    return matrix, missing


def categorical_levels(values: Sequence[Any] | pd.Series, max_levels: int) -> list[str]:
    """Levels of a categorical column, most frequent first, at most ``max_levels``.

    Rarer levels are left out on purpose: at serving time they score as unseen (missing),
    which is what LightGBM learned for the long tail anyway.
    """
    series = pd.Series(values, dtype=object).dropna().astype(str)
    return [str(v) for v in series.value_counts().index[:max_levels]]
