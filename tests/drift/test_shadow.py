"""Shadow-against-champion statistics: known inputs, known figures, and the edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from drift.shadow import (
    NO_LABEL,
    label_agreement,
    latency_summary,
    pearson,
    score_agreement,
    shadow_performance,
    spearman,
)
from drift.stats import auc_from_scores


def test_identical_scores_agree_perfectly() -> None:
    scores = np.linspace(0.01, 0.99, 200)
    agreement = score_agreement(scores, scores)
    assert agreement.pearson == pytest.approx(1.0)
    assert agreement.spearman == pytest.approx(1.0)
    assert agreement.psi == 0.0
    assert agreement.mean_abs_difference == 0.0
    assert agreement.max_abs_difference == 0.0
    assert agreement.champion_shares == agreement.shadow_shares
    assert len(agreement.bins) == 10  # the champion's deciles


def test_a_monotone_but_bent_shadow_ranks_alike_and_correlates_less() -> None:
    champion = np.linspace(0.0, 1.0, 101)
    shadow = champion**4
    agreement = score_agreement(champion, shadow)
    assert agreement.spearman == pytest.approx(1.0)
    assert agreement.pearson == pytest.approx(float(np.corrcoef(champion, shadow)[0, 1]))
    assert agreement.pearson < 0.95
    assert agreement.max_abs_difference == pytest.approx(float(np.max(champion - shadow)))
    assert agreement.mean_abs_difference == pytest.approx(float(np.mean(champion - shadow)))
    assert agreement.psi > agreement.psi_noise_floor  # the shadow's mass moved to low bins


def test_reversed_scores_correlate_minus_one() -> None:
    champion = np.array([0.1, 0.2, 0.3, 0.4])
    assert pearson(champion, champion[::-1]) == pytest.approx(-1.0)
    assert spearman(champion, champion[::-1]) == pytest.approx(-1.0)


def test_spearman_is_pearson_of_average_ranks_with_ties() -> None:
    # ranks: a = 1, 2.5, 2.5, 4; b = 1, 2, 3, 4
    a, b = [0.1, 0.5, 0.5, 0.9], [0.2, 0.3, 0.4, 0.8]
    assert spearman(a, b) == pytest.approx(float(np.corrcoef([1, 2.5, 2.5, 4], [1, 2, 3, 4])[0, 1]))


def test_constant_scores_have_no_correlation_but_a_psi() -> None:
    champion = np.full(50, 0.3)
    shadow = np.r_[np.full(25, 0.1), np.full(25, 0.3)]
    agreement = score_agreement(champion, shadow)
    assert agreement.pearson is None
    assert agreement.spearman is None
    # One edge (0.3): the champion all in [0.3, ...), the shadow half below.
    assert agreement.bins == ["< 0.3", "≥ 0.3"]
    assert agreement.champion_shares == [0.0, 1.0]
    assert agreement.shadow_shares == [0.5, 0.5]
    expected = (0.5 - 1e-4) * np.log(0.5 / 1e-4) + (0.5 - 1.0) * np.log(0.5 / 1.0)
    assert agreement.psi == pytest.approx(expected)
    same = score_agreement(champion, champion)
    assert same.pearson is None
    assert same.psi == 0.0


def test_no_rows_and_one_row() -> None:
    empty = score_agreement([], [])
    assert empty.rows == 0
    assert empty.pearson is None
    assert empty.spearman is None
    assert empty.mean_abs_difference is None
    assert empty.max_abs_difference is None
    assert empty.psi == 0.0
    one = score_agreement([0.2], [0.7])
    assert one.pearson is None
    assert one.max_abs_difference == pytest.approx(0.5)


def test_unpaired_arrays_are_refused() -> None:
    with pytest.raises(ValueError, match="not paired"):
        score_agreement([0.1, 0.2], [0.1])


def test_label_agreement_and_its_confusion_table() -> None:
    champion = ["0", "0", "1", "1", "0", None]
    shadow = ["0", "1", "1", "0", "0", "1"]
    labels = label_agreement(champion, shadow)
    assert labels.rows == 6
    assert labels.agreeing == 3
    assert labels.agreement == pytest.approx(0.5)
    assert labels.confusion == {
        "0": {"0": 2, "1": 1},
        "1": {"0": 1, "1": 1},
        NO_LABEL: {"1": 1},
    }
    assert label_agreement([], []).agreement is None


def test_latency_percentiles_per_request() -> None:
    summary = latency_summary(np.arange(1.0, 101.0))
    assert summary.requests == 100
    assert summary.p50_ms == pytest.approx(50.5)
    assert summary.p99_ms == pytest.approx(99.01)
    assert summary.mean_ms == pytest.approx(50.5)
    none = latency_summary([])
    assert none.requests == 0
    assert none.p50_ms is None
    assert none.p99_ms is None


def test_exact_auc_counts_ties_as_half() -> None:
    # positives 0.8, 0.4; negatives 0.4, 0.1: pairs won 1 + 1 + 0.5 (tie) + 1 = 3.5 of 4.
    assert auc_from_scores([0.8, 0.4, 0.4, 0.1], [True, True, False, False]) == pytest.approx(0.875)
    assert auc_from_scores([0.1, 0.2], [True, True]) is None


def test_performance_on_the_labelled_rows_only() -> None:
    champion = np.array([0.9, 0.8, 0.2, 0.1, 0.5])
    shadow = np.array([0.1, 0.8, 0.2, 0.9, 0.5])
    labels = np.array([1, 1, 0, 0, -1], dtype=np.int8)  # the last row has no feedback
    perf = shadow_performance(champion, shadow, labels)
    assert perf is not None
    assert (perf.labelled_rows, perf.positives, perf.negatives) == (4, 2, 2)
    assert perf.champion_auc == pytest.approx(1.0)
    # Positives 0.1 and 0.8 against negatives 0.2 and 0.9: only 0.8 > 0.2 wins, 1 of 4 pairs.
    assert perf.shadow_auc == pytest.approx(0.25)
    assert perf.auc_difference == pytest.approx(-0.75)


def test_performance_without_labels_is_none_and_one_class_has_no_auc() -> None:
    scores = np.array([0.1, 0.2, 0.3])
    assert shadow_performance(scores, scores, np.full(3, -1, dtype=np.int8)) is None
    one_class = shadow_performance(scores, scores, np.array([1, 1, -1], dtype=np.int8))
    assert one_class is not None
    assert one_class.labelled_rows == 2
    assert one_class.champion_auc is None
    assert one_class.shadow_auc is None
    assert one_class.auc_difference is None
