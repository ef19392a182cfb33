"""The shadow comparison report: a shadow against the champion on the same requests.

Its JSON form, a plain-text summary, and how it is made from the paired rows of the log and
the feedback labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from drift.report import RunRef
from drift.shadow import (
    LabelAgreement,
    LatencySummary,
    ScoreAgreement,
    ShadowPerformance,
    label_agreement,
    latency_summary,
    score_agreement,
    shadow_performance,
)
from drift.shadow_log import ShadowPairs, VersionPair

LATENCY_NOTE = (
    "A shadow scores after the answer, off its path: its latency runs from the request's "
    "arrival to the shadow's scores, so it includes the champion's time and never delays "
    "the answer."
)


@dataclass(frozen=True)
class ShadowReport:
    """One comparison of a model's shadow with its champion over a window of the log."""

    model: str
    champion_version: int
    shadow_version: int
    window_start: datetime | None
    window_end: datetime | None
    generated_at: datetime
    pairs: ShadowPairs
    scores: ScoreAgreement
    labels: LabelAgreement
    champion_latency: LatencySummary
    shadow_latency: LatencySummary
    performance: ShadowPerformance | None
    source: str | None = None
    notes: list[str] = field(default_factory=list)
    run: RunRef | None = None
    """The job run that made it; ``None`` for a comparison run outside the scheduler."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: versions, window, rows, scores, labels, latency, performance."""
        p = self.pairs
        return {
            "kind": "shadow_comparison",
            "model": self.model,
            "champion": {"version": self.champion_version},
            "shadow": {"version": self.shadow_version},
            "window": {
                "start": _iso(self.window_start),
                "end": _iso(self.window_end),
                "first_logged_at": _iso(p.first_logged_at),
                "last_logged_at": _iso(p.last_logged_at),
                "source": self.source,
            },
            "rows": {
                "paired": p.rows,
                "paired_requests": self.champion_latency.requests,
                "answered_by_route": dict(sorted(p.routes.items())),
                "shadow": p.shadow_rows,
                "shadow_unpaired": p.unpaired_shadow,
                "answers": p.answer_rows,
                "answers_unpaired": p.unpaired_answers,
                "canary_not_compared": p.canary_rows,
            },
            "version_pairs": [_pair_dict(pair) for pair in p.version_pairs],
            "scores": _scores_dict(self.scores),
            "labels": {
                "rows": self.labels.rows,
                "agreeing": self.labels.agreeing,
                "agreement": _round(self.labels.agreement),
                "confusion": self.labels.confusion,
            },
            "latency": {
                "champion": _latency_dict(self.champion_latency),
                "shadow": _latency_dict(self.shadow_latency),
                "note": LATENCY_NOTE,
            },
            "performance": _performance_dict(self.performance),
            "notes": self.notes,
            "generated_at": _iso(self.generated_at),
            "run": None if self.run is None else asdict(self.run),
        }

    def summary(self) -> str:
        """A few plain-text lines for a CLI to print."""
        p, s = self.pairs, self.scores
        window = f"{_iso(self.window_start) or '…'} → {_iso(self.window_end) or '…'}"
        lines = [
            f"shadow comparison {self.model}: champion v{self.champion_version} vs shadow "
            f"v{self.shadow_version} ({p.rows:,} paired rows, {window})",
            f"  unpaired: {p.unpaired_shadow:,} of {p.shadow_rows:,} shadow rows, "
            f"{p.unpaired_answers:,} of {p.answer_rows:,} answers",
            f"  scores: Pearson {_fmt(s.pearson)}, Spearman {_fmt(s.spearman)}, "
            f"PSI {s.psi:.3f}, mean |diff| {_fmt(s.mean_abs_difference)}, "
            f"max |diff| {_fmt(s.max_abs_difference)}",
            f"  labels agree on {_pct(self.labels.agreement)} of rows",
            f"  latency p50/p99: champion {_ms(self.champion_latency)}, "
            f"shadow {_ms(self.shadow_latency)} (off the answer path)",
        ]
        perf = self.performance
        if perf is None:
            lines.append("  AUC: no feedback labels for these requests")
        else:
            lines.append(
                f"  AUC on {perf.labelled_rows:,} labelled rows: champion "
                f"{_fmt(perf.champion_auc)}, shadow {_fmt(perf.shadow_auc)}"
            )
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def compare_shadow(
    pairs: ShadowPairs,
    feedback: Mapping[str, int] | None,
    *,
    model: str,
    generated_at: datetime,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    source: str | None = None,
    notes: list[str] | None = None,
) -> ShadowReport:
    """The report of paired rows; ``feedback`` maps request_id to 1 (positive) or 0."""
    labels = np.fromiter(
        ((feedback or {}).get(i, -1) for i in pairs.request_ids),
        dtype=np.int8,
        count=pairs.rows,
    )
    return ShadowReport(
        model=model,
        champion_version=pairs.champion_version,
        shadow_version=pairs.shadow_version,
        window_start=window_start,
        window_end=window_end,
        generated_at=generated_at,
        pairs=pairs,
        scores=score_agreement(pairs.champion_scores, pairs.shadow_scores),
        labels=label_agreement(pairs.champion_labels, pairs.shadow_labels),
        champion_latency=latency_summary(pairs.champion_latency_ms),
        shadow_latency=latency_summary(pairs.shadow_latency_ms),
        performance=shadow_performance(pairs.champion_scores, pairs.shadow_scores, labels),
        source=source,
        notes=[*pairs.notes, *(notes or [])],
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _ms(latency: LatencySummary) -> str:
    if latency.p50_ms is None or latency.p99_ms is None:
        return "-"
    return f"{latency.p50_ms:.1f}/{latency.p99_ms:.1f} ms"


def _pair_dict(pair: VersionPair) -> dict[str, Any]:
    return {
        "champion_version": pair.champion,
        "shadow_version": pair.shadow,
        "rows": pair.rows,
        "last_logged_at": _iso(pair.last_logged_at),
    }


def _scores_dict(s: ScoreAgreement) -> dict[str, Any]:
    return {
        "pearson": _round(s.pearson),
        "spearman": _round(s.spearman),
        "psi": _round(s.psi),
        "psi_noise_floor": _round(s.psi_noise_floor),
        "mean_abs_difference": _round(s.mean_abs_difference),
        "max_abs_difference": _round(s.max_abs_difference),
        "mean_champion": _round(s.mean_champion),
        "mean_shadow": _round(s.mean_shadow),
        "distribution": {
            "bins": s.bins,
            "champion": [_round(v) for v in s.champion_shares],
            "shadow": [_round(v) for v in s.shadow_shares],
        },
    }


def _latency_dict(latency: LatencySummary) -> dict[str, Any]:
    return {
        "requests": latency.requests,
        "p50_ms": _round(latency.p50_ms, 3),
        "p99_ms": _round(latency.p99_ms, 3),
        "mean_ms": _round(latency.mean_ms, 3),
    }


def _performance_dict(perf: ShadowPerformance | None) -> dict[str, Any] | None:
    if perf is None:
        return None
    return {
        "labelled_rows": perf.labelled_rows,
        "positives": perf.positives,
        "negatives": perf.negatives,
        "champion_auc": _round(perf.champion_auc),
        "shadow_auc": _round(perf.shadow_auc),
        "auc_difference": _round(perf.auc_difference),
    }
