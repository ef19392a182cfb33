"""Drift statistics over binned counts: PSI, KS, chi-square, AUC, and their sampling-noise floors.

Everything here takes counts (or small arrays of values) and returns numbers; nothing reads
files. Counts come from the reference profile and from mergeable window histograms, so a
statistic never needs the rows themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats as scipy_stats

FloatArray = npt.NDArray[np.float64]
CountArray = npt.NDArray[np.int64]

# Evidently's PSI (``get_binned_data``) replaces an empty bin's share with 0.0001 so the log
# stays finite; using the same value keeps our PSI comparable with theirs.
EMPTY_BIN_SHARE = 1e-4

# Sampling-noise floors are set at the 1% tail: a drift threshold never sits below the value
# pure sampling noise reaches one window in a hundred.
NOISE_ALPHA = 0.01

# Fixed score bins for per-class histograms: 1,000 bins over [0, 1] bound the AUC error by
# half the probability that a positive and a negative fall in the same 0.001-wide bin.
AUC_BINS = 1000


def bin_counts(values: npt.ArrayLike, edges: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """How many of ``values`` fall in each bin of ``edges``: below the first edge, between
    each two (an edge belongs to the bin above it), and from the last one up."""
    edges = np.asarray(edges, dtype=np.float64)
    found = np.searchsorted(edges, np.asarray(values, dtype=np.float64), side="right")
    return np.bincount(found, minlength=edges.size + 1)


def shares(counts: npt.ArrayLike) -> FloatArray:
    """Counts as proportions of their total (all zeros when the total is zero)."""
    array = np.asarray(counts, dtype=np.float64)
    total = array.sum()
    return array / total if total > 0 else np.zeros_like(array)


def psi(
    reference: npt.ArrayLike, current: npt.ArrayLike, epsilon: float = EMPTY_BIN_SHARE
) -> float:
    """Population Stability Index of two count vectors over the same bins.

    ``PSI = sum((cur - ref) * ln(cur / ref))`` on bin shares, with empty shares replaced by
    ``epsilon`` (Siddiqi, "Credit Risk Scorecards", 2006; Evidently uses the same epsilon).
    """
    ref = shares(reference)
    cur = shares(current)
    ref = np.where(ref == 0, epsilon, ref)
    cur = np.where(cur == 0, epsilon, cur)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def occupied_bins(reference: npt.ArrayLike, current: npt.ArrayLike) -> int:
    """How many bins hold anything in either count vector."""
    return int(np.count_nonzero((np.asarray(reference) + np.asarray(current)) > 0))


def psi_noise_floor(
    bins: int, n_reference: int, n_current: int, alpha: float = NOISE_ALPHA
) -> float:
    """The PSI that pure sampling noise exceeds with probability ``alpha``.

    Under no drift, PSI is approximately ``(1/n + 1/m) * chi2(bins - 1)`` (Yurdakul and
    Naranjo, "Statistical properties of the population stability index", J. Risk Model
    Validation, 2020), so the floor is that chi-square quantile scaled by the two sizes.
    """
    if bins < 2 or n_reference <= 0 or n_current <= 0:
        return 0.0
    scale = 1.0 / n_reference + 1.0 / n_current
    return float(scipy_stats.chi2.ppf(1.0 - alpha, bins - 1) * scale)


def ks_from_counts(reference: npt.ArrayLike, current: npt.ArrayLike) -> float:
    """Kolmogorov-Smirnov distance of two count vectors over the same ordered bins.

    The CDFs are compared at the bin edges only, so this is a lower bound of the KS of the
    underlying values; it misses at most the mass of the one bin where the true maximum lies.
    """
    ref = np.cumsum(shares(reference))
    cur = np.cumsum(shares(current))
    if ref.size == 0 or ref[-1] == 0 or cur[-1] == 0:
        return 0.0
    return float(np.max(np.abs(ref - cur)))


def ks_from_values(reference: npt.ArrayLike, current: npt.ArrayLike) -> float:
    """The exact two-sample Kolmogorov-Smirnov distance of two sets of values."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if ref.size == 0 or cur.size == 0:
        return 0.0
    # Only the statistic is used; "asymp" avoids the exact p-value's cost and its warnings.
    result = scipy_stats.ks_2samp(ref, cur, method="asymp")
    return float(result.statistic)


def ks_critical_value(n_reference: int, n_current: int, alpha: float = NOISE_ALPHA) -> float:
    """The two-sample KS distance that pure sampling noise exceeds with probability ``alpha``.

    ``c(alpha) * sqrt((n + m) / (n * m))`` with ``c(alpha) = sqrt(-ln(alpha / 2) / 2)``,
    1.63 at alpha = 0.01 (the asymptotic Kolmogorov distribution).
    """
    if n_reference <= 0 or n_current <= 0:
        return 1.0
    c_alpha = math.sqrt(-math.log(alpha / 2.0) / 2.0)
    return c_alpha * math.sqrt((n_reference + n_current) / (n_reference * n_current))


@dataclass(frozen=True)
class ChiSquare:
    """Pearson's chi-square test of homogeneity between two count vectors."""

    statistic: float
    p_value: float
    dof: int


def chi_square(reference: npt.ArrayLike, current: npt.ArrayLike) -> ChiSquare:
    """Chi-square test that two count vectors come from the same categorical distribution.

    The reference is treated as a sample too (a 2 x k contingency table), not as the truth,
    so a small training set does not inflate the statistic.
    """
    table = np.vstack([np.asarray(reference, dtype=np.float64), np.asarray(current, np.float64)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return ChiSquare(statistic=0.0, p_value=1.0, dof=0)
    result = scipy_stats.chi2_contingency(table, correction=False)
    return ChiSquare(
        statistic=float(result.statistic), p_value=float(result.pvalue), dof=int(result.dof)
    )


def score_bin(scores: npt.ArrayLike, bins: int = AUC_BINS) -> CountArray:
    """Index of the fixed ``[0, 1]`` score bin of each score (outside values are clipped)."""
    array = np.asarray(scores, dtype=np.float64)
    index = np.floor(np.clip(array, 0.0, 1.0) * bins).astype(np.int64)
    return np.minimum(index, bins - 1)


@dataclass(frozen=True)
class BinnedAuc:
    """An AUC computed from per-class score histograms, with its worst-case binning error."""

    auc: float
    error_bound: float
    positives: int
    negatives: int


def auc_from_histograms(positive: npt.ArrayLike, negative: npt.ArrayLike) -> BinnedAuc | None:
    """ROC AUC from score histograms of the positive and negative class on the same bins.

    AUC = P(score+ > score-) + P(tie) / 2. Pairs in different bins are ordered exactly; pairs
    in the same bin are counted as ties (1/2), while their true contribution lies in [0, 1],
    so the error is at most half the same-bin pair share, ``sum(p+_b * p-_b) / 2``. None when a
    class is absent.
    """
    pos = np.asarray(positive, dtype=np.float64)
    neg = np.asarray(negative, dtype=np.float64)
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        return None
    negatives_below = np.cumsum(neg) - neg
    wins = float(np.sum(pos * negatives_below))
    same_bin = float(np.sum(pos * neg))
    pairs = float(n_pos * n_neg)
    return BinnedAuc(
        auc=(wins + 0.5 * same_bin) / pairs,
        error_bound=0.5 * same_bin / pairs,
        positives=int(n_pos),
        negatives=int(n_neg),
    )


def auc_from_scores(scores: npt.ArrayLike, positive: npt.ArrayLike) -> float | None:
    """The exact ROC AUC of ``scores`` for the classes ``positive`` (True = positive class).

    AUC = P(score+ > score-) + P(tie) / 2, from average ranks (the Mann-Whitney U statistic).
    None when a class is absent.
    """
    values = np.asarray(scores, dtype=np.float64)
    is_positive = np.asarray(positive, dtype=bool)
    n_pos = int(is_positive.sum())
    n_neg = int(is_positive.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = scipy_stats.rankdata(values)  # ties share their average rank
    wins = float(ranks[is_positive].sum()) - n_pos * (n_pos + 1) / 2.0
    return wins / (n_pos * n_neg)


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Standard error of an AUC estimate (Hanley and McNeil, Radiology, 1982)."""
    if positives <= 0 or negatives <= 0:
        return math.inf
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc * auc / (1.0 + auc)
    variance = (
        auc * (1.0 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))
