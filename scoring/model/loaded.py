"""A loaded model version: its booster, manifest, and how it turns feature columns into scores."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import ValidationError

from features.schema import ServiceSchema
from scoring.errors import ModelLoadError
from scoring.model.encoding import BoolArray, FloatArray, encode_matrix, level_index
from scoring.model.manifest import MANIFEST_FILE, ModelManifest, one_line

PARALLEL_PREDICT_ROWS = 512
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class VersionFolders(Protocol):
    """Where versions live: the registry, which itself loads versions to check them."""

    def version_dir(self, name: str, version: int) -> Path:
        """Folder of one version."""
        ...


@dataclass(frozen=True)
class LoadFailure:
    """A version an alias names that could not be loaded, and why (one line)."""

    model: str
    alias: str
    version: int | None
    """None when the alias file itself could not be read."""
    error: str


@dataclass(frozen=True)
class ScoringModel:
    """One model version, loaded and warmed, ready to score encoded rows."""

    manifest: ModelManifest
    schema: ServiceSchema
    booster: lgb.Booster
    level_indexes: dict[str, dict[str, float]]
    """Category codes of each categorical feature, built once at load."""

    @property
    def name(self) -> str:
        """Model name."""
        return self.manifest.name

    @property
    def version(self) -> int:
        """Model version."""
        return self.manifest.version

    def encode(
        self, columns: Mapping[str, Sequence[Any] | pd.Series], rows: int
    ) -> tuple[FloatArray, BoolArray]:
        """Feature matrix in manifest order, and the mask of missing raw values."""
        return encode_matrix(
            self.schema.features,
            columns,
            self.manifest.categorical_levels,
            rows,
            self.level_indexes,
        )

    def predict(self, matrix: FloatArray) -> FloatArray:
        """Positive-class probability for each row.

        Small batches use one thread: OpenMP's start-up would cost more than it saves. From
        ``PARALLEL_PREDICT_ROWS`` rows on, every core helps (1000 rows: 4.3 -> 2.6 ms on 2).
        """
        threads = 1 if len(matrix) < PARALLEL_PREDICT_ROWS else _CORES
        scores = self.booster.predict(matrix, num_threads=threads)
        return np.asarray(scores, dtype=np.float64)


def load_model(registry: VersionFolders, name: str, version: int) -> ScoringModel:
    """Load and warm one version; say which file is missing or broken if it cannot be loaded."""
    folder = registry.version_dir(name, version)
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ModelLoadError(f"model {name} v{version}: {manifest_path} is missing")
    try:
        manifest = ModelManifest.model_validate_json(manifest_path.read_bytes())
        schema = manifest.feature_schema
    except (ValidationError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ModelLoadError(
            f"model {name} v{version}: {manifest_path} is invalid: {one_line(exc)}"
        ) from exc
    if (manifest.name, manifest.version) != (name, version):
        raise ModelLoadError(
            f"model {name} v{version}: {manifest_path} describes "
            f"{manifest.name} v{manifest.version}"
        )
    model_path = folder / manifest.model_file
    if Path(manifest.model_file).name != manifest.model_file:  # never a file outside the folder
        raise ModelLoadError(
            f"model {name} v{version}: {manifest_path} names a model file outside its folder"
        )
    if not model_path.is_file():
        raise ModelLoadError(f"model {name} v{version}: {model_path} is missing")
    try:
        booster = lgb.Booster(model_file=str(model_path))
    except lgb.basic.LightGBMError as exc:
        raise ModelLoadError(
            f"model {name} v{version}: {model_path} is corrupt: {one_line(exc)}"
        ) from exc
    if booster.num_feature() != len(schema.features):
        raise ModelLoadError(
            f"model {name} v{version}: {model_path} takes {booster.num_feature()} features "
            f"but the manifest lists {len(schema.features)}"
        )
    indexes = {name: level_index(levels) for name, levels in manifest.categorical_levels.items()}
    model = ScoringModel(manifest=manifest, schema=schema, booster=booster, level_indexes=indexes)
    # The first predict allocates LightGBM's buffers; pay for it here, not in a request.
    model.predict(np.full((1, len(schema.features)), np.nan))
    return model
