"""The decision rule's branches: none, warn, retrain, importance, cool-down, minimum window."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from drift.compare import Distribution, FeatureStats, PerformanceStats
from drift.decision import Action, DriftPolicy, Severity, decide, judge, judge_performance

NOW = datetime(2024, 5, 10, tzinfo=UTC)
ROWS = 50_000


def stats(name: str, psi: float = 0.001, ks: float | None = 0.005, **kw: object) -> FeatureStats:
    """Statistics of a feature with tiny noise floors (a large window)."""
    base = FeatureStats(
        name=name,
        kind="numeric",
        rows_reference=100_000,
        rows_current=ROWS,
        psi=psi,
        psi_noise_floor=0.0005,
        missing_rate_reference=0.01,
        missing_rate_current=0.01,
        distribution=Distribution(["a"], [1.0], [1.0]),
        ks=ks,
        ks_method="binned",
        ks_noise_floor=0.01,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


QUIET = [stats("a"), stats("b")]
SCORE = stats("score")


def test_quiet_window_is_none() -> None:
    decision = decide(QUIET, SCORE, None, ROWS, DriftPolicy())
    assert decision.action is Action.NONE
    assert not decision.drift_detected
    assert decision.reasons


def test_moderate_drift_warns_and_significant_retrains() -> None:
    moderate = decide([stats("a", psi=0.15), stats("b")], SCORE, None, ROWS, DriftPolicy())
    assert moderate.action is Action.WARN
    assert moderate.features["a"].severity is Severity.MODERATE
    assert "a" in moderate.reasons[0]
    by_ks = decide([stats("a", ks=0.22), stats("b")], SCORE, None, ROWS, DriftPolicy())
    assert by_ks.action is Action.RETRAIN
    score = decide(QUIET, stats("score", psi=0.4), None, ROWS, DriftPolicy())
    assert score.action is Action.RETRAIN
    assert score.drift_detected


def test_unimportant_features_only_warn() -> None:
    policy = DriftPolicy(importance={"a": 0.01, "b": 0.6}, min_importance=0.05)
    decision = decide([stats("a", psi=0.5), stats("b")], SCORE, None, ROWS, policy)
    assert decision.action is Action.WARN
    assert not decision.features["a"].important
    assert "importance" in decision.reasons[0]


def test_data_quality_warns() -> None:
    missing = stats("a", missing_rate_current=0.2)
    assert decide([missing], SCORE, None, ROWS, DriftPolicy()).action is Action.WARN
    unseen = stats("c", kind="categorical", ks=None, unseen_share=0.08)
    decision = decide([unseen], SCORE, None, ROWS, DriftPolicy())
    assert decision.action is Action.WARN
    assert "unseen" in decision.reasons[0]


def test_small_windows_raise_thresholds_to_the_noise_floor() -> None:
    noisy = stats("a", psi=0.15, psi_noise_floor=0.2, ks=0.15, ks_noise_floor=0.18)
    assert judge(noisy, DriftPolicy()).severity is Severity.NONE


def test_below_the_minimum_window_nothing_is_judged() -> None:
    decision = decide([stats("a", psi=0.9)], SCORE, None, 120, DriftPolicy())
    assert decision.action is Action.NONE
    assert not decision.drift_detected
    assert "120 rows" in decision.reasons[0]


def _performance(auc: float, rows: int = 5000) -> PerformanceStats:
    return PerformanceStats(
        labelled_rows=rows,
        positives=rows // 5,
        negatives=rows - rows // 5,
        auc=auc,
        auc_error_bound=0.0005,
        auc_standard_error=0.2 / rows**0.5,
        training_auc=0.85,
    )


def test_performance_decay() -> None:
    policy = DriftPolicy()
    assert decide(QUIET, SCORE, _performance(0.84), ROWS, policy).action is Action.NONE
    assert decide(QUIET, SCORE, _performance(0.82), ROWS, policy).action is Action.WARN
    decayed = decide(QUIET, SCORE, _performance(0.75), ROWS, policy)
    assert decayed.action is Action.RETRAIN
    assert "AUC fell" in decayed.reasons[0]
    few = decide(QUIET, SCORE, _performance(0.6, rows=50), ROWS, policy)
    assert few.action is Action.NONE
    assert few.performance is not None
    assert not few.performance.judged
    assert any("not judged" in reason for reason in few.reasons)


def test_cooldown_turns_retrain_into_warn() -> None:
    drifted = [stats("a", psi=0.5)]
    policy = DriftPolicy(cooldown=timedelta(days=3))
    recent = decide(drifted, SCORE, None, ROWS, policy, NOW - timedelta(days=1), NOW)
    assert recent.action is Action.WARN
    assert "cool-down" in recent.reasons[0]
    old = decide(drifted, SCORE, None, ROWS, policy, NOW - timedelta(days=4), NOW)
    assert old.action is Action.RETRAIN


def test_ignored_features_are_not_judged() -> None:
    decision = decide([stats("a", psi=0.9)], SCORE, None, ROWS, DriftPolicy(ignore=frozenset("a")))
    assert decision.action is Action.NONE


# Boundaries: a statistic exactly at a cut counts (">=", as the policy's docs and the PSI
# convention read), one just below does not, and small windows move the cut up, never down.


def test_psi_exactly_at_each_cut_reaches_that_severity() -> None:
    policy = DriftPolicy()
    quiet_ks = 0.0  # KS far below its cuts, so only PSI decides
    at_moderate = judge(stats("a", psi=policy.psi_moderate, ks=quiet_ks), policy)
    assert at_moderate.severity is Severity.MODERATE
    assert at_moderate.drifted
    below_moderate = math.nextafter(policy.psi_moderate, 0.0)
    assert judge(stats("a", psi=below_moderate, ks=quiet_ks), policy).severity is Severity.NONE

    at_significant = judge(stats("a", psi=policy.psi_significant, ks=quiet_ks), policy)
    assert at_significant.severity is Severity.SIGNIFICANT
    below_significant = math.nextafter(policy.psi_significant, 0.0)
    assert (
        judge(stats("a", psi=below_significant, ks=quiet_ks), policy).severity is Severity.MODERATE
    )


def test_ks_exactly_at_each_cut_reaches_that_severity() -> None:
    policy = DriftPolicy()
    quiet_psi = 0.0
    at_moderate = judge(stats("a", psi=quiet_psi, ks=policy.ks_moderate), policy)
    assert at_moderate.severity is Severity.MODERATE
    below_moderate = math.nextafter(policy.ks_moderate, 0.0)
    assert judge(stats("a", psi=quiet_psi, ks=below_moderate), policy).severity is Severity.NONE

    at_significant = judge(stats("a", psi=quiet_psi, ks=policy.ks_significant), policy)
    assert at_significant.severity is Severity.SIGNIFICANT
    below_significant = math.nextafter(policy.ks_significant, 0.0)
    assert (
        judge(stats("a", psi=quiet_psi, ks=below_significant), policy).severity is Severity.MODERATE
    )


def test_psi_at_the_significant_cut_retrains_the_window() -> None:
    policy = DriftPolicy()
    decision = decide(
        [stats("a", psi=policy.psi_significant), stats("b")], SCORE, None, ROWS, policy
    )
    assert decision.action is Action.RETRAIN
    assert "a" in decision.reasons[0]


def test_a_window_of_exactly_min_rows_is_judged_one_fewer_is_not() -> None:
    policy = DriftPolicy(min_rows=1000)
    drifted = [stats("a", psi=0.5)]
    judged = decide(drifted, SCORE, None, policy.min_rows, policy)
    assert judged.action is Action.RETRAIN
    assert judged.drift_detected
    assert judged.features["a"].severity is Severity.SIGNIFICANT

    too_few = decide(drifted, SCORE, None, policy.min_rows - 1, policy)
    assert too_few.action is Action.NONE
    assert not too_few.drift_detected
    assert f"{policy.min_rows - 1} rows" in too_few.reasons[0]


def test_a_psi_noise_floor_above_the_cut_is_the_cut_applied() -> None:
    policy = DriftPolicy()
    floor = 0.18  # between the moderate (0.1) and significant (0.25) cuts
    between = stats("a", psi=0.15, psi_noise_floor=floor, ks=0.0)
    verdict = judge(between, policy)
    assert verdict.severity is Severity.NONE
    assert not verdict.drifted
    assert verdict.psi_threshold == floor
    # The floor is a cut like the policy's: a PSI exactly on it counts.
    assert judge(replace(between, psi=floor), policy).severity is Severity.MODERATE
    # A floor below the policy's cut leaves the cut where it was.
    low_floor = judge(stats("a", psi=0.15, psi_noise_floor=0.01, ks=0.0), policy)
    assert low_floor.severity is Severity.MODERATE
    assert low_floor.psi_threshold == policy.psi_moderate


def test_a_psi_noise_floor_above_the_significant_cut_holds_a_retrain_back() -> None:
    policy = DriftPolicy()
    floor = 0.4
    noisy = stats("a", psi=0.3, psi_noise_floor=floor, ks=0.0)
    assert judge(noisy, policy).severity is Severity.NONE
    assert decide([noisy], SCORE, None, ROWS, policy).action is Action.NONE
    assert judge(replace(noisy, psi=floor), policy).severity is Severity.SIGNIFICANT


def test_a_ks_noise_floor_above_the_cut_is_the_cut_applied() -> None:
    policy = DriftPolicy()
    floor = 0.16
    noisy = stats("a", psi=0.0, ks=0.14, ks_noise_floor=floor)
    verdict = judge(noisy, policy)
    assert verdict.severity is Severity.NONE
    assert verdict.ks_threshold == floor
    assert judge(replace(noisy, ks=floor), policy).severity is Severity.MODERATE
    # A floor above the significant cut holds a retrain back the same way.
    high_floor = 0.3
    very_noisy = stats("a", psi=0.0, ks=0.25, ks_noise_floor=high_floor)
    assert judge(very_noisy, policy).severity is Severity.NONE
    assert judge(replace(very_noisy, ks=high_floor), policy).severity is Severity.SIGNIFICANT


STEP = 2.0**-20
"""A decay step small against every cut and still exact when subtracted from an AUC."""


def _decayed(decay: float, standard_error: float = 1e-4, rows: int = 5000) -> PerformanceStats:
    """Performance whose ``decay`` is exactly ``decay`` (both AUCs are exact binary fractions)."""
    training_auc = 0.875
    auc = training_auc - decay
    performance = PerformanceStats(
        labelled_rows=rows,
        positives=rows // 5,
        negatives=rows - rows // 5,
        auc=auc,
        auc_error_bound=0.0005,
        auc_standard_error=standard_error,
        training_auc=training_auc,
    )
    assert performance.decay == decay, "the test needs a decay with no rounding"
    return performance


def test_auc_decay_exactly_at_each_cut_reaches_that_severity() -> None:
    # Exact binary fractions, so "training AUC - AUC" lands on the cut with no rounding.
    policy = DriftPolicy(auc_decay_warn=0.03125, auc_decay_retrain=0.0625)
    at_retrain, _ = judge_performance(_decayed(policy.auc_decay_retrain), policy)
    assert at_retrain.severity is Severity.SIGNIFICANT
    assert at_retrain.judged
    just_below = policy.auc_decay_retrain - STEP
    below_retrain, _ = judge_performance(_decayed(just_below), policy)
    assert below_retrain.severity is Severity.MODERATE

    at_warn, reason = judge_performance(_decayed(policy.auc_decay_warn), policy)
    assert at_warn.severity is Severity.MODERATE
    assert reason is not None
    assert "AUC fell" in reason
    below_warn, _ = judge_performance(_decayed(policy.auc_decay_warn - STEP), policy)
    assert below_warn.severity is Severity.NONE

    decision = decide(QUIET, SCORE, _decayed(policy.auc_decay_retrain), ROWS, policy)
    assert decision.action is Action.RETRAIN


def test_auc_noise_above_the_cuts_is_the_cut_applied() -> None:
    policy = DriftPolicy(auc_decay_warn=0.03125, auc_decay_retrain=0.0625)
    # A standard error whose 99% bound (2.326 se ~ 0.093) lies above both cuts: a decay
    # between the retrain cut and that bound is noise on so few labels, not a decay.
    standard_error = 0.04
    verdict, reason = judge_performance(_decayed(0.078125, standard_error), policy)
    assert verdict.judged
    assert verdict.severity is Severity.NONE
    assert reason is None
    assert verdict.decay_threshold is not None
    assert verdict.decay_threshold > policy.auc_decay_retrain
    assert verdict.decay_threshold == pytest.approx(2.326 * standard_error)
    beyond, _ = judge_performance(_decayed(0.125, standard_error), policy)
    assert beyond.severity is Severity.SIGNIFICANT


def test_exactly_min_labelled_rows_are_judged_one_fewer_are_not() -> None:
    policy = DriftPolicy(min_labelled_rows=200, auc_decay_retrain=0.0625)
    enough, _ = judge_performance(_decayed(0.125, rows=policy.min_labelled_rows), policy)
    assert enough.judged
    assert enough.severity is Severity.SIGNIFICANT
    too_few, note = judge_performance(_decayed(0.125, rows=policy.min_labelled_rows - 1), policy)
    assert not too_few.judged
    assert too_few.severity is Severity.NONE
    assert note is not None
    assert "not judged" in note
