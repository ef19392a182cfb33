"""How far a shadow version agrees with the champion on the same rows: scores, labels, latency.

Pure functions over paired arrays: element ``i`` of the champion's and the shadow's arrays is
the same entity of the same request, scored by each. Nothing here reads files.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats as scipy_stats

from drift.stats import (
    NOISE_ALPHA,
    auc_from_scores,
    bin_counts,
    occupied_bins,
    psi,
    psi_noise_floor,
    shares,
)

FloatArray = npt.NDArray[np.float64]

# The score bins of the PSI: the champion's deciles, as a drift check bins by the reference's.
SCORE_QUANTILES = np.linspace(0.1, 0.9, 9)


def pearson(a: npt.ArrayLike, b: npt.ArrayLike) -> float | None:
    """Pearson's correlation; None for fewer than two pairs or a constant side (undefined)."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    x, y = x - x.mean(), y - y.mean()
    value = float(np.dot(x, y) / np.sqrt(np.dot(x, x) * np.dot(y, y)))
    return min(1.0, max(-1.0, value))  # rounding may step just past the bounds


def spearman(a: npt.ArrayLike, b: npt.ArrayLike) -> float | None:
    """Spearman's rank correlation (Pearson's of the average ranks); None where Pearson's is."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.size < 2:
        return None
    return pearson(scipy_stats.rankdata(x), scipy_stats.rankdata(y))


def score_edges(champion: npt.ArrayLike) -> list[float]:
    """Bin edges of the score PSI: the champion's distinct deciles (one edge if constant)."""
    values = np.asarray(champion, dtype=np.float64)
    if values.size == 0:
        return []
    return [float(e) for e in np.unique(np.quantile(values, SCORE_QUANTILES))]


def _bin_labels(edges: list[float]) -> list[str]:
    if not edges:
        return ["all"]
    shown = [f"{e:.3g}" for e in edges]
    labels = [f"< {shown[0]}"]
    labels += [f"[{low}, {high})" for low, high in itertools.pairwise(shown)]
    return [*labels, f"≥ {shown[-1]}"]


@dataclass(frozen=True)
class ScoreAgreement:
    """How the shadow's scores compare with the champion's on the same rows."""

    rows: int
    pearson: float | None
    spearman: float | None
    psi: float
    """PSI of the shadow's scores against the champion's, over the champion's deciles."""
    psi_noise_floor: float
    mean_abs_difference: float | None
    max_abs_difference: float | None
    mean_champion: float | None
    mean_shadow: float | None
    bins: list[str]
    champion_shares: list[float]
    shadow_shares: list[float]


def score_agreement(
    champion: npt.ArrayLike, shadow: npt.ArrayLike, alpha: float = NOISE_ALPHA
) -> ScoreAgreement:
    """Correlations, PSI and absolute differences of two versions' scores of the same rows."""
    c = np.asarray(champion, dtype=np.float64)
    s = np.asarray(shadow, dtype=np.float64)
    if c.shape != s.shape:
        raise ValueError(f"{c.size} champion scores but {s.size} shadow scores: not paired")
    edges = score_edges(c)
    c_counts, s_counts = bin_counts(c, edges), bin_counts(s, edges)
    difference = np.abs(s - c)
    empty = c.size == 0
    return ScoreAgreement(
        rows=int(c.size),
        pearson=pearson(c, s),
        spearman=spearman(c, s),
        psi=0.0 if empty else psi(c_counts, s_counts),
        psi_noise_floor=psi_noise_floor(occupied_bins(c_counts, s_counts), c.size, s.size, alpha),
        mean_abs_difference=None if empty else float(difference.mean()),
        max_abs_difference=None if empty else float(difference.max()),
        mean_champion=None if empty else float(c.mean()),
        mean_shadow=None if empty else float(s.mean()),
        bins=_bin_labels(edges),
        champion_shares=[float(v) for v in shares(c_counts)],
        shadow_shares=[float(v) for v in shares(s_counts)],
    )


@dataclass(frozen=True)
class LabelAgreement:
    """How often the two versions' post-processed labels agree, and how they differ."""

    rows: int
    agreeing: int
    confusion: dict[str, dict[str, int]]
    """Champion label -> shadow label -> rows (a missing label is ``"(none)"``)."""

    @property
    def agreement(self) -> float | None:
        """The share of rows with the same label; None without rows."""
        return self.agreeing / self.rows if self.rows else None


NO_LABEL = "(none)"


def label_agreement(champion: Sequence[str | None], shadow: Sequence[str | None]) -> LabelAgreement:
    """The share of rows both versions label alike, and the champion x shadow label counts."""
    if len(champion) != len(shadow):
        raise ValueError(f"{len(champion)} champion labels but {len(shadow)} shadow labels")
    pairs = Counter(
        (NO_LABEL if c is None else c, NO_LABEL if s is None else s)
        for c, s in zip(champion, shadow, strict=True)
    )
    confusion: dict[str, dict[str, int]] = {}
    for (c, s), count in sorted(pairs.items()):
        confusion.setdefault(c, {})[s] = count
    agreeing = sum(count for (c, s), count in pairs.items() if c == s)
    return LabelAgreement(rows=len(champion), agreeing=agreeing, confusion=confusion)


@dataclass(frozen=True)
class LatencySummary:
    """Latency percentiles of one version over the requests it scored."""

    requests: int
    p50_ms: float | None
    p99_ms: float | None
    mean_ms: float | None


def latency_summary(latencies_ms: npt.ArrayLike) -> LatencySummary:
    """p50, p99 and mean of one latency per request (milliseconds); None without requests."""
    values = np.asarray(latencies_ms, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return LatencySummary(requests=0, p50_ms=None, p99_ms=None, mean_ms=None)
    p50, p99 = np.percentile(values, [50, 99])
    return LatencySummary(
        requests=int(values.size),
        p50_ms=float(p50),
        p99_ms=float(p99),
        mean_ms=float(values.mean()),
    )


@dataclass(frozen=True)
class ShadowPerformance:
    """AUC of each version on the paired rows that have a feedback label."""

    labelled_rows: int
    positives: int
    negatives: int
    champion_auc: float | None
    shadow_auc: float | None

    @property
    def auc_difference(self) -> float | None:
        """Shadow AUC minus champion AUC (positive: the shadow ranks better)."""
        if self.champion_auc is None or self.shadow_auc is None:
            return None
        return self.shadow_auc - self.champion_auc


def shadow_performance(
    champion: npt.ArrayLike, shadow: npt.ArrayLike, labels: npt.ArrayLike
) -> ShadowPerformance | None:
    """Each version's AUC where ``labels`` is 1 (positive) or 0; -1 is unlabelled.

    None when no row is labelled; the AUCs are None when only one class is.
    """
    known = np.asarray(labels, dtype=np.int8)
    labelled = known >= 0
    if not labelled.any():
        return None
    positive = known[labelled] == 1
    c = np.asarray(champion, dtype=np.float64)[labelled]
    s = np.asarray(shadow, dtype=np.float64)[labelled]
    return ShadowPerformance(
        labelled_rows=int(labelled.sum()),
        positives=int(positive.sum()),
        negatives=int((~positive).sum()),
        champion_auc=auc_from_scores(c, positive),
        shadow_auc=auc_from_scores(s, positive),
    )
