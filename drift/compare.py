"""Compare a window's counts with the reference profile: per-feature, score and AUC statistics.

These are measurements only; whether a value is drift is the decision rule's business
(:mod:`drift.decision`), so the same statistics can be judged by different policies.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from drift.counts import CategoricalCounts, LabelledScores, NumericCounts
from drift.profile import CategoricalProfile, NumericProfile
from drift.stats import (
    NOISE_ALPHA,
    auc_from_histograms,
    auc_standard_error,
    chi_square,
    ks_critical_value,
    ks_from_counts,
    ks_from_values,
    occupied_bins,
    psi,
    psi_noise_floor,
    shares,
)

# Charts and the JSON list at most this many categories by name; the rest are summed into
# "(other)" so a high-cardinality feature keeps the report readable (the statistics use all).
MAX_SHOWN_CATEGORIES = 15

UNSEEN = "(unseen)"
MISSING = "(missing)"
OTHER = "(other)"


@dataclass(frozen=True)
class Distribution:
    """Reference and current shares per bin, with a label per bin, for charts and the JSON."""

    labels: list[str]
    reference: list[float]
    current: list[float]


@dataclass(frozen=True)
class FeatureStats:
    """How one feature (or the score) of the window compares with the reference."""

    name: str
    kind: str
    rows_reference: int
    rows_current: int
    psi: float
    psi_noise_floor: float
    missing_rate_reference: float
    missing_rate_current: float
    distribution: Distribution
    ks: float | None = None
    ks_method: str | None = None
    ks_noise_floor: float | None = None
    chi2: float | None = None
    chi2_p_value: float | None = None
    chi2_dof: int | None = None
    unseen_share: float | None = None
    top_unseen: dict[str, int] = field(default_factory=dict)

    @property
    def missing_rate_change(self) -> float:
        """Current minus reference missing rate."""
        return self.missing_rate_current - self.missing_rate_reference


def _rate(part: int, whole: int) -> float:
    return part / whole if whole > 0 else 0.0


def _edge_label(value: float, kind: str) -> str:
    if kind == "timestamp":
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d")
    if 100 <= abs(value) < 1e7:
        return f"{value:,.0f}"  # amounts and counts read better whole than as 1.08e+03
    return f"{value:.3g}"


def _numeric_labels(edges: list[float], kind: str) -> list[str]:
    if not edges:
        return ["all"]
    shown = [_edge_label(e, kind) for e in edges]
    labels = [f"< {shown[0]}"]
    labels += [f"[{low}, {high})" for low, high in itertools.pairwise(shown)]
    return [*labels, f"≥ {shown[-1]}"]


def numeric_stats(
    name: str,
    kind: str,
    profile: NumericProfile,
    counts: NumericCounts,
    alpha: float = NOISE_ALPHA,
) -> FeatureStats:
    """PSI (with a missing bin), KS and missing rates of a numeric feature or the score."""
    reference = np.asarray([*profile.counts, profile.missing], dtype=np.int64)
    current = np.append(counts.counts, counts.missing)
    rows_reference, rows_current = int(reference.sum()), int(current.sum())
    bins = occupied_bins(reference, current)

    ks: float | None = None
    ks_method: str | None = None
    ks_floor: float | None = None
    values = counts.values()
    if profile.sample and values is not None and values.size > 0:
        # The window was small enough to keep every value: the exact two-sample KS against the
        # reference sample, whose own size then sets the noise floor.
        ks, ks_method = ks_from_values(profile.sample, values), "exact"
        ks_floor = ks_critical_value(len(profile.sample), values.size, alpha)
    elif profile.present > 0 and counts.present > 0:
        ks, ks_method = ks_from_counts(profile.counts, counts.counts), "binned"
        ks_floor = ks_critical_value(profile.present, counts.present, alpha)

    labels = [*_numeric_labels(profile.edges, kind), MISSING]
    ref_shares, cur_shares = shares(reference), shares(current)
    if reference[-1] == 0 and current[-1] == 0:  # no missing bin to show when nothing is missing
        labels, ref_shares, cur_shares = labels[:-1], ref_shares[:-1], cur_shares[:-1]
    return FeatureStats(
        name=name,
        kind=kind,
        rows_reference=rows_reference,
        rows_current=rows_current,
        psi=psi(reference, current),
        psi_noise_floor=psi_noise_floor(bins, rows_reference, rows_current, alpha),
        missing_rate_reference=_rate(profile.missing, rows_reference),
        missing_rate_current=_rate(counts.missing, rows_current),
        distribution=Distribution(
            labels=labels,
            reference=[float(s) for s in ref_shares],
            current=[float(s) for s in cur_shares],
        ),
        ks=ks,
        ks_method=ks_method,
        ks_noise_floor=ks_floor,
    )


def _shown_categories(names: list[str], reference: np.ndarray, current: np.ndarray) -> Distribution:
    ref, cur = shares(reference), shares(current)
    order = sorted(range(len(names)), key=lambda i: -max(ref[i], cur[i]))
    special = [i for i in order if names[i] in (UNSEEN, MISSING)]
    regular = [i for i in order if names[i] not in (UNSEEN, MISSING)]
    shown, rest = regular[:MAX_SHOWN_CATEGORIES], regular[MAX_SHOWN_CATEGORIES:]
    labels = [names[i] for i in shown]
    ref_shown = [float(ref[i]) for i in shown]
    cur_shown = [float(cur[i]) for i in shown]
    if rest:
        labels.append(OTHER)
        ref_shown.append(float(ref[rest].sum()))
        cur_shown.append(float(cur[rest].sum()))
    for i in special:
        if ref[i] > 0 or cur[i] > 0:
            labels.append(names[i])
            ref_shown.append(float(ref[i]))
            cur_shown.append(float(cur[i]))
    return Distribution(labels=labels, reference=ref_shown, current=cur_shown)


def categorical_stats(
    name: str,
    profile: CategoricalProfile,
    counts: CategoricalCounts,
    alpha: float = NOISE_ALPHA,
) -> FeatureStats:
    """PSI and chi-square over reference categories + unseen + missing, and the unseen share."""
    if tuple(profile.counts) != counts.categories:
        raise ValueError(f"counts of {name!r} are not over the reference's categories")
    names = [*counts.categories, UNSEEN, MISSING]
    reference = np.asarray([*profile.counts.values(), 0, profile.missing], dtype=np.int64)
    current = np.append(counts.counts, [counts.unseen_total, counts.missing])
    rows_reference, rows_current = int(reference.sum()), int(current.sum())
    test = chi_square(reference, current)
    top_unseen = dict(sorted(counts.unseen.items(), key=lambda item: -item[1])[:10])
    return FeatureStats(
        name=name,
        kind="categorical",
        rows_reference=rows_reference,
        rows_current=rows_current,
        psi=psi(reference, current),
        psi_noise_floor=psi_noise_floor(
            occupied_bins(reference, current), rows_reference, rows_current, alpha
        ),
        missing_rate_reference=_rate(profile.missing, rows_reference),
        missing_rate_current=_rate(counts.missing, rows_current),
        distribution=_shown_categories(names, reference, current),
        chi2=test.statistic,
        chi2_p_value=test.p_value,
        chi2_dof=test.dof,
        unseen_share=_rate(counts.unseen_total, counts.present),
        top_unseen=top_unseen,
    )


@dataclass(frozen=True)
class PerformanceStats:
    """The window's AUC on its labelled rows, against the training holdout AUC."""

    labelled_rows: int
    positives: int
    negatives: int
    auc: float | None
    auc_error_bound: float | None
    auc_standard_error: float | None
    training_auc: float | None
    labels_truncated: bool = False

    @property
    def decay(self) -> float | None:
        """Training AUC minus window AUC (positive = worse than in training)."""
        if self.auc is None or self.training_auc is None:
            return None
        return self.training_auc - self.auc


def performance_stats(
    labelled: LabelledScores, training_auc: float | None, labels_truncated: bool = False
) -> PerformanceStats | None:
    """AUC from the per-class score histograms; None when no logged row has a label."""
    if labelled.rows == 0:
        return None
    binned = auc_from_histograms(labelled.positive, labelled.negative)
    positives = int(labelled.positive.sum())
    negatives = int(labelled.negative.sum())
    return PerformanceStats(
        labelled_rows=labelled.rows,
        positives=positives,
        negatives=negatives,
        auc=None if binned is None else binned.auc,
        auc_error_bound=None if binned is None else binned.error_bound,
        auc_standard_error=(
            None if binned is None else auc_standard_error(binned.auc, positives, negatives)
        ),
        training_auc=training_auc,
        labels_truncated=labels_truncated,
    )
