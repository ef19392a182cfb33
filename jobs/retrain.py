"""Retraining: train a candidate on fresh labels, compare it with the champion, maybe promote."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from feast import FeatureStore

from jobs.labels import training_labels
from jobs.train import Progress, train_model
from scoring.errors import TrainingError
from scoring.model.classification import roc_auc
from scoring.model.loaded import ScoringModel, load_model
from scoring.model.registry import ModelRegistry


@dataclass(frozen=True)
class RetrainResult:
    """What a retraining run did, for its run record."""

    model: str
    champion_version: int
    candidate_version: int
    champion_auc: float
    candidate_auc: float
    holdout_rows: int
    promoted: bool
    reason: str


def holdout_auc(model: ScoringModel, holdout: pd.DataFrame, label_column: str) -> float:
    """AUC of ``model`` on holdout rows that carry its features (Feast full names)."""
    columns = {name: holdout[name] for name in model.schema.feature_names}
    matrix, _ = model.encode(columns, len(holdout))
    positive = model.manifest.postprocess.labels[1]
    y = (holdout[label_column] == positive).to_numpy(dtype=np.float64)
    return roc_auc(y, model.predict(matrix))


def retrain(
    store: FeatureStore,
    registry: ModelRegistry,
    data_dir: Path,
    model: str,
    *,
    margin: float = 0.0,
    progress: Progress | None = None,
) -> RetrainResult:
    """Train a new version of ``model`` on every label available now and promote it if it is
    not worse than the champion by more than ``margin`` AUC on the same recent holdout."""
    champion_version = registry.resolve(model, "champion")
    champion = load_model(registry, model, champion_version)
    manifest = champion.manifest
    source = Path(manifest.labels_source) if manifest.labels_source else None
    labels = training_labels(
        source, data_dir, model, champion.schema, manifest.label_column, manifest.postprocess.labels
    )
    if labels.empty:
        raise TrainingError(f"no labels to retrain {model!r}: no label source and no feedback")
    result = train_model(
        store,
        registry,
        model_name=model,
        feature_service=manifest.feature_service,
        labels=labels,
        label_column=manifest.label_column,
        labels_source=manifest.labels_source,
        progress=progress,
    )
    candidate = result.manifest
    champion_auc = holdout_auc(champion, result.holdout, manifest.label_column)
    candidate_auc = candidate.metrics["auc"]
    promoted = bool(candidate_auc >= champion_auc - margin)
    if promoted:
        reason = f"candidate AUC {candidate_auc:.4f} >= champion {champion_auc:.4f} - {margin:g}"
        # The registry loads the candidate before the alias moves: one that cannot be served
        # fails the run and the champion stays.
        registry.set_alias(
            model, "champion", candidate.version, who="job", why=f"retrain: {reason}"
        )
    else:
        reason = f"candidate AUC {candidate_auc:.4f} < champion {champion_auc:.4f} - {margin:g}"
    return RetrainResult(
        model=model,
        champion_version=champion_version,
        candidate_version=candidate.version,
        champion_auc=champion_auc,
        candidate_auc=candidate_auc,
        holdout_rows=len(result.holdout),
        promoted=promoted,
        reason=reason,
    )
