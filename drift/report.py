"""The drift report: its JSON form, a plain-text summary, and writing JSON + HTML atomically."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from drift.compare import FeatureStats, PerformanceStats
from drift.decision import Action, Decision, DriftPolicy, Verdict


@dataclass(frozen=True)
class RunRef:
    """The job run that wrote a report, and its record's path relative to the report."""

    job: str
    run_id: str
    record: str


@dataclass(frozen=True)
class ShadowComparisonRef:
    """The shadow comparison a drift run wrote beside its report, and its headline figures."""

    report_json: str
    """Path relative to the drift report's folder, like ``report_html``."""
    report_html: str
    champion_version: int
    shadow_version: int
    paired_rows: int
    pearson: float | None
    label_agreement: float | None


@dataclass(frozen=True)
class DriftReport:
    """One drift check of one model version over one window of its prediction log."""

    model: str
    version: int | None
    window_start: datetime | None
    window_end: datetime | None
    rows: int
    reference_rows: int
    features: list[FeatureStats]
    prediction: FeatureStats
    performance: PerformanceStats | None
    decision: Decision
    policy: DriftPolicy
    generated_at: datetime
    first_logged_at: datetime | None = None
    last_logged_at: datetime | None = None
    source: str | None = None
    notes: list[str] = field(default_factory=list)
    run: RunRef | None = None
    """The job run that made it; ``None`` for a check run outside the scheduler."""
    shadow_comparison: ShadowComparisonRef | None = None
    """The comparison of the model's shadow with its champion, when a shadow is set."""

    @property
    def action(self) -> Action:
        """What the check asks for: none, warn or retrain."""
        return self.decision.action

    @property
    def drift_detected(self) -> bool:
        """Whether any feature or the score drifted."""
        return self.decision.drift_detected

    @property
    def drifted_features(self) -> list[str]:
        """Names of the drifted features, most drifted (by PSI) first."""
        return [s.name for s in self.features_by_psi() if self.decision.features[s.name].drifted]

    def features_by_psi(self) -> list[FeatureStats]:
        """Features sorted by PSI, largest first."""
        return sorted(self.features, key=lambda s: -s.psi)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: model, version, window, features, prediction, performance, action."""
        return {
            "model": self.model,
            "version": self.version,
            "window": {
                "start": _iso(self.window_start),
                "end": _iso(self.window_end),
                "rows": self.rows,
                "first_logged_at": _iso(self.first_logged_at),
                "last_logged_at": _iso(self.last_logged_at),
                "source": self.source,
            },
            "reference": {"rows": self.reference_rows},
            "drift_detected": self.drift_detected,
            "action": str(self.action),
            "reasons": self.decision.reasons,
            "features": [
                _feature_dict(s, self.decision.features[s.name]) for s in self.features_by_psi()
            ],
            "prediction": _feature_dict(self.prediction, self.decision.prediction),
            "performance": self._performance_dict(),
            "policy": _policy_dict(self.policy),
            "notes": self.notes,
            "generated_at": _iso(self.generated_at),
            "run": None if self.run is None else asdict(self.run),
            "shadow_comparison": _shadow_dict(self.shadow_comparison),
        }

    def _performance_dict(self) -> dict[str, Any] | None:
        perf = self.performance
        if perf is None:
            return None
        verdict = self.decision.performance
        return {
            "labelled_rows": perf.labelled_rows,
            "positives": perf.positives,
            "negatives": perf.negatives,
            "auc": _round(perf.auc),
            "auc_error_bound": _round(perf.auc_error_bound),
            "auc_standard_error": _round(perf.auc_standard_error),
            "training_auc": _round(perf.training_auc),
            "decay": _round(perf.decay),
            "decay_threshold": _round(verdict.decay_threshold) if verdict else None,
            "judged": bool(verdict and verdict.judged),
            "severity": str(verdict.severity) if verdict else "none",
            "degraded": bool(verdict and verdict.severity == "significant"),
            "labels_truncated": perf.labels_truncated,
        }

    def summary(self) -> str:
        """A few plain-text lines for a CLI to print."""
        version = f" v{self.version}" if self.version is not None else ""
        window = f"{_iso(self.window_start) or '…'} → {_iso(self.window_end) or '…'}"
        lines = [
            f"drift check {self.model}{version}: {str(self.action).upper()} "
            f"({self.rows:,} rows, {window})"
        ]
        lines += [f"  - {reason}" for reason in self.decision.reasons]
        drifted = self.drifted_features
        lines.append(
            f"  features drifted: {len(drifted)} of {len(self.features)}"
            + (f" ({', '.join(drifted)})" if drifted else "")
        )
        score = self.prediction
        ks = f", KS {score.ks:.3f}" if score.ks is not None else ""
        lines.append(f"  score: PSI {score.psi:.3f}{ks}")
        perf = self.performance
        if perf is not None and perf.auc is not None and perf.training_auc is not None:
            lines.append(
                f"  AUC {perf.auc:.3f} on {perf.labelled_rows:,} labelled rows "
                f"(training {perf.training_auc:.3f})"
            )
        shadow = self.shadow_comparison
        if shadow is not None:
            pearson = "-" if shadow.pearson is None else f"{shadow.pearson:.3f}"
            agreement = "-" if shadow.label_agreement is None else f"{shadow.label_agreement:.1%}"
            lines.append(
                f"  shadow v{shadow.shadow_version}: Pearson {pearson} with the champion, "
                f"labels agree on {agreement} of {shadow.paired_rows:,} paired rows"
            )
        return "\n".join(lines)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits)


def _shadow_dict(shadow: ShadowComparisonRef | None) -> dict[str, Any] | None:
    if shadow is None:
        return None
    return {
        **asdict(shadow),
        "pearson": _round(shadow.pearson),
        "label_agreement": _round(shadow.label_agreement),
    }


def _feature_dict(stats: FeatureStats, verdict: Verdict) -> dict[str, Any]:
    return {
        "name": stats.name,
        "kind": stats.kind,
        "drifted": verdict.drifted,
        "severity": str(verdict.severity),
        "important": verdict.important,
        "psi": _round(stats.psi),
        "psi_threshold": _round(verdict.psi_threshold),
        "psi_noise_floor": _round(stats.psi_noise_floor),
        "ks": _round(stats.ks),
        "ks_method": stats.ks_method,
        "ks_threshold": _round(verdict.ks_threshold),
        "chi2": _round(stats.chi2),
        "chi2_p_value": stats.chi2_p_value,
        "chi2_dof": stats.chi2_dof,
        "missing_rate_reference": _round(stats.missing_rate_reference),
        "missing_rate_current": _round(stats.missing_rate_current),
        "missing_rate_change": _round(stats.missing_rate_change),
        "unseen_share": _round(stats.unseen_share),
        "top_unseen": stats.top_unseen,
        "quality": verdict.quality,
        "rows_reference": stats.rows_reference,
        "rows_current": stats.rows_current,
        "distribution": {
            "bins": stats.distribution.labels,
            "reference": [_round(s) for s in stats.distribution.reference],
            "current": [_round(s) for s in stats.distribution.current],
        },
    }


def _policy_dict(policy: DriftPolicy) -> dict[str, Any]:
    return {
        "psi_moderate": policy.psi_moderate,
        "psi_significant": policy.psi_significant,
        "ks_moderate": policy.ks_moderate,
        "ks_significant": policy.ks_significant,
        "noise_alpha": policy.noise_alpha,
        "min_rows": policy.min_rows,
        "missing_rate_jump": policy.missing_rate_jump,
        "unseen_share": policy.unseen_share,
        "auc_decay_warn": policy.auc_decay_warn,
        "auc_decay_retrain": policy.auc_decay_retrain,
        "min_labelled_rows": policy.min_labelled_rows,
        "min_importance": policy.min_importance,
        "ignore": sorted(policy.ignore),
        "cooldown_seconds": policy.cooldown.total_seconds(),
    }
