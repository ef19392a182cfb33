"""PSI, KS, chi-square and AUC against hand-computed and scipy values; noise floors simulated."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from drift.stats import (
    EMPTY_BIN_SHARE,
    auc_from_histograms,
    auc_standard_error,
    chi_square,
    ks_critical_value,
    ks_from_counts,
    ks_from_values,
    psi,
    psi_noise_floor,
    score_bin,
)


def test_psi_by_hand() -> None:
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert psi([50, 50], [25, 75]) == pytest.approx(expected)
    assert psi([10, 20, 30], [10, 20, 30]) == 0.0


def test_psi_empty_bin_uses_the_epsilon() -> None:
    e = EMPTY_BIN_SHARE
    expected = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - e) * math.log(0.5 / e)
    assert psi([100, 0], [50, 50]) == pytest.approx(expected)


def test_psi_noise_floor_is_the_99th_percentile_of_null_psi() -> None:
    rng = np.random.default_rng(3)
    p = np.full(10, 0.1)
    n, m = 2000, 500
    null = [psi(rng.multinomial(n, p), rng.multinomial(m, p)) for _ in range(4000)]
    observed = float(np.quantile(null, 0.99))
    assert psi_noise_floor(10, n, m) == pytest.approx(observed, rel=0.15)


def test_ks_from_values_is_scipy() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=700), rng.normal(0.2, 1.0, size=300)
    assert ks_from_values(a, b) == pytest.approx(scipy_stats.ks_2samp(a, b).statistic)


def test_ks_from_counts_by_hand_and_bounded_by_exact() -> None:
    # CDFs at the edges: ref 0.25, 0.75, 1; cur 0.1, 0.4, 1 -> max gap 0.35.
    assert ks_from_counts([25, 50, 25], [10, 30, 60]) == pytest.approx(0.35)
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=50_000), rng.normal(0.5, 1.0, size=50_000)
    edges = np.quantile(a, np.arange(1, 10) / 10)
    counts_a = np.bincount(np.searchsorted(edges, a, side="right"), minlength=10)
    counts_b = np.bincount(np.searchsorted(edges, b, side="right"), minlength=10)
    binned, exact = ks_from_counts(counts_a, counts_b), ks_from_values(a, b)
    assert binned <= exact + 1e-12
    assert exact - binned < 0.01  # the maximum of a mean shift sits near the median edge


def test_ks_critical_value_matches_the_kolmogorov_distribution() -> None:
    c_alpha = scipy_stats.kstwobign.ppf(0.99)
    assert ks_critical_value(1000, 1000) == pytest.approx(c_alpha * math.sqrt(2 / 1000), rel=1e-3)


def test_chi_square_is_scipy_and_drops_empty_columns() -> None:
    reference, current = [30, 50, 20, 0], [25, 40, 30, 0]
    test = chi_square(reference, current)
    expected = scipy_stats.chi2_contingency([[30, 50, 20], [25, 40, 30]], correction=False)
    assert test.statistic == pytest.approx(expected.statistic)
    assert test.p_value == pytest.approx(expected.pvalue)
    assert test.dof == 2
    assert chi_square([10, 0], [0, 0]).p_value == 1.0


def test_auc_from_histograms_is_within_its_bound_of_the_exact_auc() -> None:
    rng = np.random.default_rng(6)
    pos = rng.beta(4, 2, 3000)
    neg = rng.beta(2, 4, 7000)
    u = scipy_stats.mannwhitneyu(pos, neg).statistic
    exact = u / (pos.size * neg.size)
    binned = auc_from_histograms(
        np.bincount(score_bin(pos), minlength=1000), np.bincount(score_bin(neg), minlength=1000)
    )
    assert binned is not None
    assert abs(binned.auc - exact) <= binned.error_bound
    assert binned.error_bound < 0.002
    assert auc_from_histograms(np.ones(1000), np.zeros(1000)) is None


def test_auc_standard_error_shrinks_with_labels() -> None:
    small, large = auc_standard_error(0.8, 50, 50), auc_standard_error(0.8, 5000, 5000)
    assert large < small
    assert large == pytest.approx(small / 10, rel=0.1)
