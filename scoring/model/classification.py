"""Classification metrics for the holdout, on NumPy arrays."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

FloatArray = npt.NDArray[np.float64]


def roc_auc(y: FloatArray, scores: FloatArray) -> float:
    """Area under the ROC curve (the Mann-Whitney U statistic, ties counted half)."""
    positives = y == 1
    n_pos = int(positives.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(y: FloatArray, scores: FloatArray, eps: float = 1e-15) -> float:
    """Mean binary cross-entropy."""
    p = np.clip(scores, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def best_f1_threshold(y: FloatArray, scores: FloatArray) -> float:
    """The score threshold that maximises F1 on these rows (0.5 if no positive exists)."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_y = scores[order], y[order]
    tp = np.cumsum(sorted_y)
    fp = np.cumsum(1 - sorted_y)
    total_pos = sorted_y.sum()
    if total_pos == 0:
        return 0.5
    f1 = 2 * tp / (tp + fp + total_pos)
    # Only cut between distinct scores: the threshold must separate what it counts.
    last_of_run = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    best = int(np.argmax(np.where(last_of_run, f1, -1.0)))
    return float(sorted_scores[best])
