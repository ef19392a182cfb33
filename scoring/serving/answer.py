"""An answer's predictions: each row's score, label, version and gaps, in the request's order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scoring.model.loaded import ScoringModel
from scoring.serving.batching import Computed
from scoring.serving.routing import RoutedRows


def predictions(
    model: ScoringModel, computed: Computed, include_features: bool
) -> list[dict[str, Any]]:
    """One prediction per row ``model`` scored, as the answer's JSON holds it."""
    post = model.manifest.postprocess
    negative, positive = post.labels
    version = model.version
    score_list: list[float] = computed.scores.tolist()
    labels = [positive if p else negative for p in post.positive(computed.scores).tolist()]
    rows: list[dict[str, Any]] = [
        {"score": score, "label": label, "version": version, "missing": [], "stale": []}
        for score, label in zip(score_list, labels, strict=True)
    ]
    if computed.missing_names is not None:  # most requests miss nothing
        for prediction, missing in zip(rows, computed.missing_names, strict=True):
            prediction["missing"] = missing
    if computed.stale_names is not None:
        for prediction, stale in zip(rows, computed.stale_names, strict=True):
            prediction["stale"] = stale
    if include_features:
        columns = computed.columns
        names = model.schema.feature_names
        for i, prediction in enumerate(rows):
            prediction["features"] = {name: columns[name][i] for name in names}
    return rows


def merged(
    parts: Sequence[RoutedRows], answered: Sequence[list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The predictions of a request's parts put back in the order of its rows."""
    rows: list[dict[str, Any]] = [{}] * sum(len(part.rows) for part in parts)
    for part, part_predictions in zip(parts, answered, strict=True):
        positions = part.positions if part.positions is not None else range(len(rows))
        for i, prediction in zip(positions, part_predictions, strict=True):
            rows[i] = prediction
    return rows
