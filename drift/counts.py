"""Mergeable window histograms on the reference's fixed bins: memory bounded, combined by ``+``.

A window of the prediction log becomes counts per reference bin (numeric), counts per
reference category plus an unseen bucket (categorical), the same for the score, and per-class
score histograms for rows that have a label. Two windows' counts add up to the counts of both,
so a job can count each partition on its own and sum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from drift.profile import CategoricalProfile, NumericProfile, ReferenceProfile
from drift.stats import AUC_BINS, bin_counts, score_bin

FloatArray = npt.NDArray[np.float64]
CountArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Below this many rows the window keeps every numeric value, so KS can be exact; above it
# the KS comes from the bins. 5,000 floats per feature is 40 kB: nothing next to a batch.
DEFAULT_VALUE_CAPACITY = 5000

# Unseen categories are named in the report; a feature that suddenly carries IDs must not make
# the counter grow with the log, so only this many distinct unseen names are kept (the total
# unseen count stays exact; the rest go to ``unseen_other``).
MAX_UNSEEN_NAMES = 100


@dataclass
class ValueBuffer:
    """Every present value of a window, while there are at most ``capacity`` of them."""

    capacity: int
    chunks: list[FloatArray] = field(default_factory=list)
    size: int = 0
    overflowed: bool = False

    def add(self, values: FloatArray) -> None:
        """Keep ``values``; once past capacity, drop everything (KS then uses the bins)."""
        if self.overflowed or values.size == 0:
            return
        if self.size + values.size > self.capacity:
            self.chunks, self.size, self.overflowed = [], 0, True
            return
        self.chunks.append(values.copy())
        self.size += values.size

    def values(self) -> FloatArray | None:
        """All kept values, or None when the window was too big to keep them."""
        if self.overflowed:
            return None
        return np.concatenate(self.chunks) if self.chunks else np.empty(0, dtype=np.float64)

    def __add__(self, other: ValueBuffer) -> ValueBuffer:
        merged = ValueBuffer(capacity=min(self.capacity, other.capacity))
        if self.overflowed or other.overflowed:
            merged.overflowed = True
        else:
            for chunk in (*self.chunks, *other.chunks):
                merged.add(chunk)
        return merged


@dataclass
class NumericCounts:
    """Counts of a numeric column over a reference profile's bins, plus missing values."""

    edges: FloatArray
    counts: CountArray
    missing: int = 0
    buffer: ValueBuffer | None = None

    @classmethod
    def on(cls, profile: NumericProfile, value_capacity: int = 0) -> NumericCounts:
        """Empty counts on ``profile``'s bins; keep up to ``value_capacity`` raw values."""
        edges = np.asarray(profile.edges, dtype=np.float64)
        buffer = ValueBuffer(value_capacity) if value_capacity > 0 else None
        return cls(edges=edges, counts=np.zeros(edges.size + 1, dtype=np.int64), buffer=buffer)

    @property
    def present(self) -> int:
        """How many values were present."""
        return int(self.counts.sum())

    @property
    def rows(self) -> int:
        """How many rows were counted, missing or not."""
        return self.present + self.missing

    def add(self, values: FloatArray) -> None:
        """Count a batch of values; NaN is missing (as in the reference profile)."""
        nan = np.isnan(values)
        present = values[~nan] if nan.any() else values
        self.missing += int(values.size - present.size)
        # Same rule as the profile: bin i holds [edges[i-1], edges[i]), open at both ends.
        self.counts += bin_counts(present, self.edges)
        if self.buffer is not None:
            self.buffer.add(present)

    def values(self) -> FloatArray | None:
        """Every present value when the window was small enough to keep them, else None."""
        return None if self.buffer is None else self.buffer.values()

    def __add__(self, other: NumericCounts) -> NumericCounts:
        if not np.array_equal(self.edges, other.edges):
            raise ValueError("cannot add counts over different bins")
        buffer = None
        if self.buffer is not None and other.buffer is not None:
            buffer = self.buffer + other.buffer
        return NumericCounts(
            edges=self.edges,
            counts=self.counts + other.counts,
            missing=self.missing + other.missing,
            buffer=buffer,
        )


@dataclass
class CategoricalCounts:
    """Counts of a categorical column per reference category, plus unseen and missing values."""

    categories: tuple[str, ...]
    counts: CountArray
    unseen: dict[str, int] = field(default_factory=dict)
    unseen_other: int = 0
    missing: int = 0

    @classmethod
    def on(cls, profile: CategoricalProfile) -> CategoricalCounts:
        """Empty counts over ``profile``'s categories."""
        categories = tuple(profile.counts)
        return cls(categories=categories, counts=np.zeros(len(categories), dtype=np.int64))

    @property
    def unseen_total(self) -> int:
        """Values of categories the reference never saw."""
        return sum(self.unseen.values()) + self.unseen_other

    @property
    def present(self) -> int:
        """How many values were present."""
        return int(self.counts.sum()) + self.unseen_total

    @property
    def rows(self) -> int:
        """How many rows were counted, missing or not."""
        return self.present + self.missing

    def add(self, value_counts: Mapping[str, int], missing: int = 0) -> None:
        """Count a batch given as category -> count, plus its missing values."""
        index = {c: i for i, c in enumerate(self.categories)}
        self.missing += missing
        for category, count in value_counts.items():
            position = index.get(category)
            if position is None:
                self.unseen[category] = self.unseen.get(category, 0) + int(count)
            else:
                self.counts[position] += int(count)
        self._bound_unseen()

    def _bound_unseen(self) -> None:
        if len(self.unseen) <= MAX_UNSEEN_NAMES:
            return
        ranked = sorted(self.unseen.items(), key=lambda item: (-item[1], item[0]))
        self.unseen = dict(ranked[:MAX_UNSEEN_NAMES])
        self.unseen_other += sum(count for _, count in ranked[MAX_UNSEEN_NAMES:])

    def __add__(self, other: CategoricalCounts) -> CategoricalCounts:
        if self.categories != other.categories:
            raise ValueError("cannot add counts over different categories")
        merged = CategoricalCounts(
            categories=self.categories,
            counts=self.counts + other.counts,
            unseen=dict(self.unseen),
            unseen_other=self.unseen_other + other.unseen_other,
            missing=self.missing + other.missing,
        )
        merged.add(other.unseen)
        return merged


@dataclass
class LabelledScores:
    """Score histograms per class on fixed ``[0, 1]`` bins, for a mergeable AUC."""

    positive: CountArray = field(default_factory=lambda: np.zeros(AUC_BINS, dtype=np.int64))
    negative: CountArray = field(default_factory=lambda: np.zeros(AUC_BINS, dtype=np.int64))

    @property
    def rows(self) -> int:
        """How many labelled rows were counted."""
        return int(self.positive.sum() + self.negative.sum())

    def add(self, scores: FloatArray, is_positive: BoolArray) -> None:
        """Count labelled scores by class; NaN scores are skipped."""
        keep = ~np.isnan(scores)
        bins = score_bin(scores[keep], self.positive.size)
        positive = is_positive[keep]
        self.positive += np.bincount(bins[positive], minlength=self.positive.size)
        self.negative += np.bincount(bins[~positive], minlength=self.negative.size)

    def __add__(self, other: LabelledScores) -> LabelledScores:
        return LabelledScores(self.positive + other.positive, self.negative + other.negative)


FeatureCounts = NumericCounts | CategoricalCounts


@dataclass
class WindowCounts:
    """Everything a drift check needs from one window of the prediction log."""

    rows: int
    features: dict[str, FeatureCounts]
    score: NumericCounts
    labelled: LabelledScores
    first_logged_at: datetime | None = None
    last_logged_at: datetime | None = None
    labels_truncated: bool = False

    @classmethod
    def on(
        cls, reference: ReferenceProfile, value_capacity: int = DEFAULT_VALUE_CAPACITY
    ) -> WindowCounts:
        """Empty counts on the bins of every feature of ``reference`` and of its score."""
        features: dict[str, FeatureCounts] = {}
        for name, profile in reference.features.items():
            if isinstance(profile, CategoricalProfile):
                features[name] = CategoricalCounts.on(profile)
            else:
                features[name] = NumericCounts.on(profile, value_capacity)
        return cls(
            rows=0,
            features=features,
            score=NumericCounts.on(reference.score, value_capacity),
            labelled=LabelledScores(),
        )

    def __add__(self, other: WindowCounts) -> WindowCounts:
        if self.features.keys() != other.features.keys():
            raise ValueError("cannot add windows over different features")
        features: dict[str, FeatureCounts] = {}
        for name, mine in self.features.items():
            features[name] = _add_feature(name, mine, other.features[name])
        return WindowCounts(
            rows=self.rows + other.rows,
            features=features,
            score=self.score + other.score,
            labelled=self.labelled + other.labelled,
            first_logged_at=_earliest(self.first_logged_at, other.first_logged_at),
            last_logged_at=_latest(self.last_logged_at, other.last_logged_at),
            labels_truncated=self.labels_truncated or other.labels_truncated,
        )


def _add_feature(name: str, mine: FeatureCounts, theirs: FeatureCounts) -> FeatureCounts:
    if isinstance(mine, NumericCounts) and isinstance(theirs, NumericCounts):
        return mine + theirs
    if isinstance(mine, CategoricalCounts) and isinstance(theirs, CategoricalCounts):
        return mine + theirs
    raise ValueError(f"feature {name!r} has different kinds in the two windows")


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)
