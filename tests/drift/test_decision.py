"""The decision rule's branches: none, warn, retrain, importance, cool-down, minimum window."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from drift.compare import Distribution, FeatureStats, PerformanceStats
from drift.decision import Action, DriftPolicy, Severity, decide, judge

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
