"""Retraining's promotion gate on real training runs: a better champion stays, a candidate at
least as good (within the margin) takes its place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.store import open_feature_store
from features.training import EVENT_TIMESTAMP
from jobs.records import read_records
from jobs.retrain import RetrainResult, retrain
from jobs.runner import JobRunner
from jobs.train import TrainingResult
from scoring.model.registry import ModelRegistry
from scoring.settings import Settings
from tests.utils.repo import DemoRepo
from tests.utils.serving import register_copy_of_v1


@pytest.fixture
def noisy_labels(tmp_path: Path, demo_repo: DemoRepo, trained: TrainingResult) -> Path:
    """The demo labels with every label before v1's holdout shuffled among those rows.

    A model retrained from them learns noise, while the rows it is judged on (the holdout, the
    latest rows) keep their real labels: there v1, trained on the real labels, is genuinely
    the better model.
    """
    labels = demo_repo.data.transactions.copy()
    holdout_start = pd.Timestamp(trained.manifest.training_window.holdout_start)
    before = (labels[EVENT_TIMESTAMP] < holdout_start).to_numpy()
    rng = np.random.default_rng(5)
    labels.loc[before, "is_fraud"] = rng.permutation(labels.loc[before, "is_fraud"].to_numpy())
    path = tmp_path / "noisy_labels.parquet"
    labels.to_parquet(path)
    return path


def _retrain(settings: Settings, margin: float) -> RetrainResult:
    store = open_feature_store(settings.feature_repo, settings.online_store)
    return retrain(
        store, ModelRegistry(settings.models_dir), settings.data_dir, "fraud", margin=margin
    )


def test_a_better_champion_keeps_its_alias_until_the_margin_covers_its_lead(
    own_settings: Settings, noisy_labels: Path
) -> None:
    registry = ModelRegistry(own_settings.models_dir)
    champion = register_copy_of_v1(own_settings, labels_source=str(noisy_labels))
    registry.set_alias("fraud", "champion", champion)

    kept = _retrain(own_settings, margin=0.0)

    assert kept.champion_version == champion
    assert kept.champion_auc > 0.8  # v1 on real labels
    assert kept.candidate_auc < 0.6  # a model of noise
    assert not kept.promoted
    assert "<" in kept.reason
    # The candidate is registered all the same, trained on what the champion's labels say now.
    candidate = registry.manifest("fraud", kept.candidate_version)
    assert candidate.labels_source == str(noisy_labels)
    assert candidate.metrics["auc"] == kept.candidate_auc
    assert registry.resolve("fraud", "champion") == champion

    # A margin of exactly the champion's lead: the candidate is then "not worse by more than
    # the margin", the boundary the gate includes. The job takes the margin from the settings.
    lead = kept.champion_auc - kept.candidate_auc
    assert kept.champion_auc - lead == kept.candidate_auc, "the lead must subtract back exactly"
    record = JobRunner(own_settings.model_copy(update={"promote_margin": lead})).run("retrain")
    assert record.outcome == "ok", record.detail
    promoted = record.produced["fraud"]
    # Same labels, same data, a deterministic trainer: the same two AUCs as before.
    assert (promoted["champion_auc"], promoted["candidate_auc"]) == (
        kept.champion_auc,
        kept.candidate_auc,
    )
    assert promoted["champion_version"] == champion
    assert promoted["candidate_version"] == kept.candidate_version + 1
    assert promoted["promoted"], promoted["reason"]
    assert ">=" in promoted["reason"]
    assert registry.resolve("fraud", "champion") == promoted["candidate_version"]
    [saved] = read_records(own_settings.data_dir / "jobs" / "runs", "retrain")
    assert saved.produced["fraud"]["promoted"]


def test_a_candidate_as_good_as_the_champion_is_promoted(own_settings: Settings) -> None:
    registry = ModelRegistry(own_settings.models_dir)

    result = _retrain(own_settings, margin=0.0)

    # Retrained on v1's own labels and data, the candidate is v1 again: equal AUCs, the gate's
    # boundary with no margin.
    assert result.champion_version == 1
    assert result.candidate_auc == result.champion_auc
    assert result.promoted, result.reason
    assert registry.resolve("fraud", "champion") == result.candidate_version
    assert result.candidate_version == 2
