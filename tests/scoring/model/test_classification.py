"""Holdout metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np

from scoring.model.classification import best_f1_threshold, log_loss, roc_auc


def test_auc() -> None:
    y = np.array([0, 0, 1, 1], dtype=float)
    assert roc_auc(y, np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert roc_auc(y, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert roc_auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert math.isnan(roc_auc(np.zeros(3), np.array([0.1, 0.2, 0.3])))


def test_log_loss() -> None:
    y = np.array([1.0, 0.0])
    assert log_loss(y, np.array([0.8, 0.4])) == (-math.log(0.8) - math.log(0.6)) / 2


def test_best_f1_threshold_separates() -> None:
    y = np.array([0, 0, 0, 1, 1], dtype=float)
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.9])
    assert best_f1_threshold(y, scores) == 0.7
