"""The manifest stored beside every model version: what it needs and how it was made."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from features.schema import ServiceSchema

MANIFEST_FILE = "manifest.json"
"""The manifest's name in every version folder."""


def one_line(exc: BaseException) -> str:
    """An error's message on one line (pydantic's and LightGBM's span several)."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
        )
    return " ".join(str(exc).split())


class PostProcessing(BaseModel):
    """How a score becomes a label."""

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(ge=0.0, le=1.0)
    """Scores at or above it get the positive label."""
    labels: tuple[Any, Any]
    """Negative and positive label values, as they were in the training labels."""
    threshold_rule: str = "max_f1_on_holdout"
    """How the threshold was chosen."""

    def positive(self, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """Which scores get the positive label: those at or above the threshold.

        The one place the rule is written: the answers and the log both ask here.
        """
        return scores >= self.threshold


class TrainingWindow(BaseModel):
    """The label rows the version was trained and evaluated on."""

    start: str
    end: str
    rows: int
    train_rows: int
    holdout_rows: int
    holdout_start: str


class ModelManifest(BaseModel):
    """Everything needed to load, feed and explain one model version. Stored as JSON."""

    model_config = ConfigDict(extra="allow")

    name: str
    version: int
    created_at: str
    format: str = "lightgbm-text"
    model_file: str = "model.txt"
    reference_file: str = "reference.json"
    feast_schema: dict[str, Any]
    """The feature service's join keys, request fields and ordered features."""
    categorical_levels: dict[str, list[str]]
    """Per categorical feature, its levels in code order (code = index)."""
    label_column: str
    metrics: dict[str, float]
    training_window: TrainingWindow
    postprocess: PostProcessing
    params: dict[str, Any] = Field(default_factory=dict)
    """LightGBM parameters and the number of boosting rounds kept."""
    labels_source: str | None = None
    """The labels file the version was trained from, which retraining reads again."""

    @property
    def feature_schema(self) -> ServiceSchema:
        """The feature service schema the model was trained on."""
        return ServiceSchema.from_dict(self.feast_schema)

    @property
    def feature_service(self) -> str:
        """Name of the Feast feature service feeding the model."""
        return str(self.feast_schema["feature_service"])
