"""One drift check: read a window of the log and its labels, compare with the reference, decide."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from drift.compare import (
    FeatureStats,
    categorical_stats,
    numeric_stats,
    performance_stats,
)
from drift.counts import DEFAULT_VALUE_CAPACITY, CategoricalCounts, NumericCounts, WindowCounts
from drift.decision import DriftPolicy, decide
from drift.profile import CategoricalProfile, NumericProfile, ReferenceProfile
from drift.report import DriftReport
from drift.window import DEFAULT_MAX_LABELS, LogSource, as_utc, count_window, read_labels


def compare_window(
    reference: ReferenceProfile,
    counts: WindowCounts,
    feature_kinds: Mapping[str, str] | None = None,
    alpha: float = 0.01,
) -> tuple[list[FeatureStats], FeatureStats]:
    """Statistics of every reference feature and of the score for one window's counts."""
    kinds = feature_kinds or {}
    features: list[FeatureStats] = []
    for name, profile in reference.features.items():
        window = counts.features[name]
        if isinstance(profile, CategoricalProfile) and isinstance(window, CategoricalCounts):
            features.append(categorical_stats(name, profile, window, alpha))
        elif isinstance(profile, NumericProfile) and isinstance(window, NumericCounts):
            features.append(numeric_stats(name, kinds.get(name, "numeric"), profile, window, alpha))
        else:
            raise ValueError(f"feature {name!r}: window counts do not match the reference kind")
    score = numeric_stats("score", "score", reference.score, counts.score, alpha)
    return features, score


def check_drift(
    reference: ReferenceProfile | Mapping[str, Any],
    feature_kinds: Mapping[str, str],
    model: str,
    version: int | None,
    training_auc: float | None,
    positive_label: object,
    log_source: LogSource,
    labels_source: LogSource | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    policy: DriftPolicy | None = None,
    last_retrain_at: datetime | None = None,
    now: datetime | None = None,
    *,
    value_capacity: int = DEFAULT_VALUE_CAPACITY,
    max_labels: int = DEFAULT_MAX_LABELS,
) -> DriftReport:
    """Compare the rows ``model`` (``version``) logged in ``[start, end)`` with its reference.

    ``reference`` is the model's ``reference.json`` (parsed) or a :class:`ReferenceProfile`;
    ``feature_kinds`` maps each feature to numeric | boolean | categorical | timestamp (the
    manifest's ``feast_schema.features``); ``positive_label`` is the manifest's
    ``postprocess.labels[1]``. ``log_source`` is the prediction log root, a model or date
    directory, or a Parquet file; ``labels_source`` the labels dataset (None: no performance).
    """
    profile = (
        reference
        if isinstance(reference, ReferenceProfile)
        else ReferenceProfile.from_dict(reference)
    )
    policy = policy or DriftPolicy()
    now = as_utc(now) if now is not None else datetime.now(UTC)
    labels: dict[str, int] | None = None
    truncated = False
    if labels_source is not None:
        labels, truncated = read_labels(labels_source, positive_label, start, max_labels)
    counts = count_window(
        log_source,
        profile,
        feature_kinds,
        model=model,
        version=version,
        start=start,
        end=end,
        labels=labels,
        value_capacity=value_capacity,
    )
    del labels  # the map can be large; nothing below needs it
    features, score = compare_window(profile, counts, feature_kinds, policy.noise_alpha)
    performance = performance_stats(counts.labelled, training_auc, truncated)
    decision = decide(
        features,
        score,
        performance,
        counts.rows,
        policy,
        as_utc(last_retrain_at) if last_retrain_at is not None else None,
        now,
    )
    notes = [
        f"{name} is a timestamp: its values move with time, so drift on it is expected"
        for name, kind in feature_kinds.items()
        if kind == "timestamp" and decision.features.get(name) and decision.features[name].drifted
    ]
    if truncated:
        notes.append(f"labels were cut at {max_labels:,}; performance uses those only")
    return DriftReport(
        model=model,
        version=version,
        window_start=as_utc(start) if start is not None else None,
        window_end=as_utc(end) if end is not None else None,
        rows=counts.rows,
        reference_rows=profile.rows,
        features=features,
        prediction=score,
        performance=performance,
        decision=decision,
        policy=policy,
        generated_at=now,
        first_logged_at=counts.first_logged_at,
        last_logged_at=counts.last_logged_at,
        source=str(log_source),
        notes=notes,
    )
