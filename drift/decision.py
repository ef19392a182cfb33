"""The decision rule: from a window's statistics to ``none``, ``warn`` or ``retrain``, with reasons.

Windows of production traffic are large, so every p-value is tiny and says nothing about
whether a change matters. Decisions are taken on effect sizes (PSI, KS distance, AUC decay)
against fixed thresholds; the sampling-noise floor of each statistic only raises a threshold
for small windows, where noise alone would cross it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from drift.compare import FeatureStats, PerformanceStats

# One-sided 99% normal quantile: an AUC drop must exceed 2.33 standard errors (Hanley-McNeil)
# before it counts, so a few hundred labels cannot trigger a retrain by chance.
_AUC_Z = 2.326


class Action(enum.StrEnum):
    """What the drift check asks the platform to do."""

    NONE = "none"
    WARN = "warn"
    RETRAIN = "retrain"


class Severity(enum.StrEnum):
    """How far a distribution or metric moved."""

    NONE = "none"
    MODERATE = "moderate"
    SIGNIFICANT = "significant"


@dataclass(frozen=True)
class DriftPolicy:
    """Per-model thresholds and knobs of the decision rule."""

    # PSI: < 0.1 no significant change, 0.1-0.25 moderate, > 0.25 significant (Siddiqi,
    # "Credit Risk Scorecards", 2006; the industry rule, and Evidently's PSI default of 0.1).
    psi_moderate: float = 0.1
    psi_significant: float = 0.25
    # KS distance has no such convention; these match the PSI levels on a normal mean shift
    # (PSI 0.1 ~ a 0.32 sd shift ~ KS 0.125; PSI 0.25 ~ 0.5 sd ~ KS 0.2), and sit near
    # Evidently's 0.1 default for distance-type drift scores on large data.
    ks_moderate: float = 0.125
    ks_significant: float = 0.2
    noise_alpha: float = 0.01
    """Tail probability of the sampling-noise floors (PSI chi-square, KS critical value)."""
    min_rows: int = 1000
    """Below this many rows the window is not judged (action none)."""
    missing_rate_jump: float = 0.05
    """An absolute rise of the missing rate (5 points) that warns as a data-quality problem."""
    unseen_share: float = 0.05
    """A share of categories the reference never saw that warns as a data-quality problem."""
    auc_decay_warn: float = 0.02
    auc_decay_retrain: float = 0.05
    """Training AUC minus window AUC beyond which the model is retrained."""
    min_labelled_rows: int = 200
    """Below this many labelled rows (or with one class only) performance is not judged."""
    importance: Mapping[str, float] | None = None
    """Feature -> gain share; with ``min_importance`` it says which features can retrain."""
    min_importance: float = 0.0
    ignore: frozenset[str] = frozenset()
    """Features never judged (e.g. timestamps that move by construction)."""
    cooldown: timedelta = timedelta(days=7)
    """After a retrain, a ``retrain`` becomes ``warn`` for this long."""

    def is_important(self, name: str) -> bool:
        """Whether drift on ``name`` may trigger a retrain; all features count by default."""
        if self.importance is None:
            return True
        return self.importance.get(name, 0.0) >= self.min_importance


@dataclass(frozen=True)
class Verdict:
    """How one feature (or the score) is judged, with the thresholds actually applied."""

    severity: Severity
    drifted: bool
    important: bool
    psi_threshold: float
    ks_threshold: float | None
    quality: list[str] = field(default_factory=list)
    """Data-quality warnings: missing-rate jump, unseen categories."""


@dataclass(frozen=True)
class PerformanceVerdict:
    """How the window's AUC is judged."""

    severity: Severity
    judged: bool
    decay_threshold: float | None


@dataclass(frozen=True)
class Decision:
    """The action for one window, why, and the verdict on each feature, score and AUC."""

    action: Action
    drift_detected: bool
    reasons: list[str]
    features: dict[str, Verdict]
    prediction: Verdict
    performance: PerformanceVerdict | None


def judge(stats: FeatureStats, policy: DriftPolicy, judged: bool = True) -> Verdict:
    """Severity of one feature's drift, with thresholds raised to their noise floors."""
    psi_moderate = max(policy.psi_moderate, stats.psi_noise_floor)
    psi_significant = max(policy.psi_significant, stats.psi_noise_floor)
    floor = stats.ks_noise_floor or 0.0
    ks_moderate = max(policy.ks_moderate, floor)
    ks_significant = max(policy.ks_significant, floor)
    ks = stats.ks if stats.ks is not None else -math.inf
    if stats.psi >= psi_significant or ks >= ks_significant:
        severity = Severity.SIGNIFICANT
    elif stats.psi >= psi_moderate or ks >= ks_moderate:
        severity = Severity.MODERATE
    else:
        severity = Severity.NONE
    quality: list[str] = []
    if stats.missing_rate_change >= policy.missing_rate_jump:
        quality.append(
            f"missing rate rose from {stats.missing_rate_reference:.1%} "
            f"to {stats.missing_rate_current:.1%}"
        )
    if stats.unseen_share is not None and stats.unseen_share >= policy.unseen_share:
        quality.append(f"{stats.unseen_share:.1%} of values are categories unseen in training")
    if not judged or stats.name in policy.ignore:
        severity, quality = Severity.NONE, []
    return Verdict(
        severity=severity,
        drifted=severity is not Severity.NONE,
        important=policy.is_important(stats.name),
        psi_threshold=psi_moderate,
        ks_threshold=ks_moderate if stats.ks is not None else None,
        quality=quality,
    )


def _describe(stats: FeatureStats, verdict: Verdict) -> str:
    parts = [f"PSI {stats.psi:.3f}"]
    if stats.ks is not None:
        parts.append(f"KS {stats.ks:.3f}")
    return f"{verdict.severity} drift on {stats.name} ({', '.join(parts)})"


def judge_performance(
    performance: PerformanceStats, policy: DriftPolicy
) -> tuple[PerformanceVerdict, str | None]:
    """Severity of the AUC decay, and a reason when it is not judged or it decayed."""
    decay = performance.decay
    if (
        decay is None
        or performance.auc_standard_error is None
        or performance.labelled_rows < policy.min_labelled_rows
    ):
        note = (
            f"performance not judged: {performance.labelled_rows} labelled rows "
            f"({performance.positives} positive), need {policy.min_labelled_rows} with both "
            "classes and a training AUC"
        )
        return PerformanceVerdict(Severity.NONE, judged=False, decay_threshold=None), note
    noise = _AUC_Z * performance.auc_standard_error
    retrain_at = max(policy.auc_decay_retrain, noise)
    warn_at = max(policy.auc_decay_warn, noise)
    severity = Severity.NONE
    if decay >= retrain_at:
        severity = Severity.SIGNIFICANT
    elif decay >= warn_at:
        severity = Severity.MODERATE
    verdict = PerformanceVerdict(severity, judged=True, decay_threshold=retrain_at)
    if severity is Severity.NONE:
        return verdict, None
    return verdict, (
        f"AUC fell from {performance.training_auc:.3f} in training to {performance.auc:.3f} "
        f"on {performance.labelled_rows} labelled rows (decay {decay:.3f})"
    )


def decide(
    features: Sequence[FeatureStats],
    prediction: FeatureStats,
    performance: PerformanceStats | None,
    rows: int,
    policy: DriftPolicy,
    last_retrain_at: datetime | None = None,
    now: datetime | None = None,
) -> Decision:
    """Judge a window: ``retrain`` on significant drift of an important feature or the score,
    or AUC decay; ``warn`` on moderate drift or data-quality signs; else ``none``."""
    judged = rows >= policy.min_rows
    verdicts = {stats.name: judge(stats, policy, judged) for stats in features}
    score_verdict = judge(prediction, policy, judged)
    retrain: list[str] = []
    warn: list[str] = []
    notes: list[str] = []

    for stats in sorted(features, key=lambda s: -s.psi):
        verdict = verdicts[stats.name]
        if verdict.severity is Severity.SIGNIFICANT and verdict.important:
            retrain.append(_describe(stats, verdict))
        elif verdict.severity is Severity.SIGNIFICANT:
            warn.append(f"{_describe(stats, verdict)}, but it is below the importance cut")
        elif verdict.severity is Severity.MODERATE:
            warn.append(_describe(stats, verdict))
        warn.extend(f"{stats.name}: {problem}" for problem in verdict.quality)
    if score_verdict.severity is Severity.SIGNIFICANT:
        retrain.append(_describe(prediction, score_verdict))
    elif score_verdict.severity is Severity.MODERATE:
        warn.append(_describe(prediction, score_verdict))

    performance_verdict: PerformanceVerdict | None = None
    if performance is not None:
        performance_verdict, reason = judge_performance(performance, policy)
        if not judged:
            performance_verdict = PerformanceVerdict(Severity.NONE, False, None)
        elif performance_verdict.severity is Severity.SIGNIFICANT:
            retrain.append(str(reason))
        elif performance_verdict.severity is Severity.MODERATE:
            warn.append(str(reason))
        elif reason is not None:
            notes.append(reason)

    drift_detected = score_verdict.drifted or any(v.drifted for v in verdicts.values())
    if not judged:
        action = Action.NONE
        notes.insert(
            0,
            f"window has {rows} rows, fewer than the {policy.min_rows} needed to judge drift; "
            "statistics are shown but not judged",
        )
    elif retrain:
        action = Action.RETRAIN
    elif warn:
        action = Action.WARN
    else:
        action = Action.NONE
        notes.insert(0, "no feature, score or performance change beyond its threshold")

    if action is Action.RETRAIN and last_retrain_at is not None and now is not None:
        until = last_retrain_at + policy.cooldown
        if now < until:
            action = Action.WARN
            notes.insert(
                0,
                f"retrain held back: last retrain at {last_retrain_at.isoformat()}, "
                f"cool-down until {until.isoformat()}",
            )
    return Decision(
        action=action,
        drift_detected=drift_detected,
        reasons=[*notes[:1], *retrain, *warn, *notes[1:]] if notes else [*retrain, *warn],
        features=verdicts,
        prediction=score_verdict,
        performance=performance_verdict,
    )
