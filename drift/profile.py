"""Reference profiles: what the training data looked like, in bins that later windows reuse."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from drift.stats import bin_counts

# Deciles: ten bins with about 10% of the reference each, the usual basis for PSI
# (Siddiqi, "Credit Risk Scorecards", 2006; Evidently and NannyML bin the same way).
DEFAULT_QUANTILES = tuple(i / 10 for i in range(1, 10))

# A uniform sample of the reference values lets small windows get the exact two-sample KS
# (Evidently and NannyML keep the whole reference for that); 1,000 values keep the JSON small
# while the sample's own noise (KS critical value 1.63 * sqrt(1/1000) = 0.05) stays below the
# KS thresholds the decision rule uses.
DEFAULT_SAMPLE_SIZE = 1000


@dataclass(frozen=True)
class NumericProfile:
    """Counts of a numeric column over open-ended quantile bins, plus its missing count.

    ``edges`` are the inner bin edges; bin ``i`` holds values in ``[edges[i-1], edges[i])``,
    the first bin everything below ``edges[0]`` and the last everything from ``edges[-1]`` up.
    """

    edges: list[float]
    counts: list[int]
    missing: int
    sample: list[float] | None = None
    """A uniform sample of the present values, for the exact KS; absent in older profiles."""

    @property
    def present(self) -> int:
        """How many values were present (not missing)."""
        return sum(self.counts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data: dict[str, Any] = {
            "kind": "numeric",
            "edges": self.edges,
            "counts": self.counts,
            "missing": self.missing,
        }
        if self.sample is not None:
            data["sample"] = self.sample
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericProfile:
        """Inverse of :meth:`to_dict`; accepts profiles written before ``sample`` existed."""
        sample = data.get("sample")
        return cls(
            edges=[float(e) for e in data["edges"]],
            counts=[int(c) for c in data["counts"]],
            missing=int(data.get("missing", 0)),
            sample=None if sample is None else [float(v) for v in sample],
        )


@dataclass(frozen=True)
class CategoricalProfile:
    """Counts per category of a categorical column, plus its missing count."""

    counts: dict[str, int]
    missing: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"kind": "categorical", "counts": self.counts, "missing": self.missing}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalProfile:
        """Inverse of :meth:`to_dict`."""
        counts = {str(k): int(v) for k, v in data["counts"].items()}
        return cls(counts=counts, missing=int(data.get("missing", 0)))


@dataclass(frozen=True)
class ReferenceProfile:
    """Per-feature and score distributions of a model's training data."""

    rows: int
    features: dict[str, NumericProfile | CategoricalProfile]
    score: NumericProfile
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored beside the model."""
        return {
            "rows": self.rows,
            "features": {name: p.to_dict() for name, p in self.features.items()},
            "score": self.score.to_dict(),
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        """Inverse of :meth:`to_dict`: read a ``reference.json``."""
        features: dict[str, NumericProfile | CategoricalProfile] = {}
        for name, feature in data["features"].items():
            if feature.get("kind") == "categorical":
                features[name] = CategoricalProfile.from_dict(feature)
            else:
                features[name] = NumericProfile.from_dict(feature)
        return cls(
            rows=int(data["rows"]),
            features=features,
            score=NumericProfile.from_dict(data["score"]),
            meta=dict(data.get("meta", {})),
        )


FloatArray = npt.NDArray[np.float64]

MAX_DISCRETE_VALUES = 20
"""A column with at most this many distinct values gets one bin per value."""
POINT_MASS_SHARE = 0.2
"""A single value holding at least this share of rows gets a bin of its own."""


def bin_edges(present: FloatArray, quantiles: Sequence[float] = DEFAULT_QUANTILES) -> FloatArray:
    """Inner bin edges for the non-missing values of a numeric column.

    Continuous columns: the quantiles. Columns with few distinct values (counts, flags): one
    bin per value. A point mass (say 0 for most rows) gets its own bin, and the quantiles of the
    remaining values split the rest, so that mass moving off the point is seen.
    """
    if present.size == 0:
        return np.array([], dtype=np.float64)
    distinct, counts = np.unique(present, return_counts=True)
    if distinct.size <= MAX_DISCRETE_VALUES:
        # Each value its own bin, plus open bins below the smallest and above the largest:
        # a value never seen in training must not fall into a bin of a seen one.
        return np.append(distinct, np.nextafter(distinct[-1], np.inf))
    edges = np.quantile(present, quantiles)
    top = int(np.argmax(counts))
    if counts[top] >= POINT_MASS_SHARE * present.size:
        mode = distinct[top]
        rest = present[present != mode]
        edges = np.concatenate(
            [edges, np.quantile(rest, quantiles), [mode, np.nextafter(mode, np.inf)]]
        )
    return np.unique(edges)


def numeric_profile(
    values: npt.ArrayLike,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
) -> NumericProfile:
    """Bin a numeric column on its own quantiles; NaN counts as missing.

    Quantile bins collapse on discrete and zero-inflated columns (a count that is 0 for 90%
    of rows has every decile at 0, so a shift to 3 lands in the same bin and goes unseen).
    See :func:`bin_edges` for how those columns are binned instead.
    """
    array = np.asarray(values, dtype=np.float64)
    present = array[~np.isnan(array)]
    edges = bin_edges(present, quantiles)
    counts = bin_counts(present, edges)
    sample: list[float] | None = None
    if sample_size > 0:
        # A fixed seed keeps a retrained profile of the same data byte-identical.
        rng = np.random.default_rng(0)
        chosen = (
            present
            if present.size <= sample_size
            else rng.choice(present, sample_size, replace=False)
        )
        sample = [float(v) for v in np.sort(chosen)]
    return NumericProfile(
        edges=[float(e) for e in edges],
        counts=[int(c) for c in counts],
        missing=int(array.size - present.size),
        sample=sample,
    )


def categorical_profile(values: Sequence[Any]) -> CategoricalProfile:
    """Count each category of a column; ``None`` and NaN count as missing."""
    counts: dict[str, int] = {}
    missing = 0
    for value in values:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            missing += 1
        else:
            key = str(value)
            counts[key] = counts.get(key, 0) + 1
    return CategoricalProfile(counts=dict(sorted(counts.items())), missing=missing)


def build_profile(
    numeric: Mapping[str, npt.ArrayLike],
    categorical: Mapping[str, Sequence[Any]],
    scores: npt.ArrayLike,
    order: Sequence[str],
    meta: Mapping[str, Any] | None = None,
) -> ReferenceProfile:
    """Profile every feature named in ``order`` and the model's scores."""
    features: dict[str, NumericProfile | CategoricalProfile] = {}
    rows = 0
    for name in order:
        if name in categorical:
            features[name] = categorical_profile(categorical[name])
            rows = len(categorical[name])
        else:
            column = np.asarray(numeric[name], dtype=np.float64)
            features[name] = numeric_profile(column)
            rows = column.size
    return ReferenceProfile(
        rows=rows, features=features, score=numeric_profile(scores), meta=dict(meta or {})
    )
