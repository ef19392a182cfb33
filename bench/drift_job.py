"""The drift job over a large synthetic prediction log, run in a fresh process.

:func:`write_synthetic_model` registers a small LightGBM model over 20 features (numeric,
counts, a flag, two categories) with its reference profile; :func:`write_synthetic_log`
writes its Hive-partitioned log (``model=/date=/*.parquet``, row groups of ~100k rows, the
product's column layout and compression), a few features shifted so the check has drift to
find. The child (``python -m bench.drift_job ...``) runs the product's drift job on it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.child import run_isolated
from features.schema import FeatureKind, FeatureSpec, FieldType, InputField, ServiceSchema
from scoring.log.schema import date_partition, prediction_log_schema, predictions_dir
from scoring.model.manifest import PostProcessing

MODEL = "synthetic"
VIEW = "synthetic_view"
_NUMERIC, _COUNTS = 14, 3
_CATEGORIES = {"category_a": 12, "category_b": 60}
_SHIFTED = ("num_00", "num_01", "count_0")

SYNTHETIC_POSTPROCESS = PostProcessing(threshold=0.5, labels=(0, 1))


@dataclass(frozen=True)
class SyntheticLog:
    """Where the synthetic log was written and what it holds."""

    root: Path
    rows: int
    files: int
    days: int
    bytes: int
    seconds: float


def synthetic_schema() -> ServiceSchema:
    """The synthetic model's inputs: two join keys, a request field and 20 features."""
    features = [FeatureSpec(f"{VIEW}__num_{i:02d}", FeatureKind.NUMERIC, "DOUBLE")
                for i in range(_NUMERIC)]  # fmt: skip
    features += [FeatureSpec(f"{VIEW}__count_{i}", FeatureKind.NUMERIC, "INT64")
                 for i in range(_COUNTS)]  # fmt: skip
    features.append(FeatureSpec(f"{VIEW}__flag", FeatureKind.BOOLEAN, "BOOL"))
    features += [FeatureSpec(f"{VIEW}__{name}", FeatureKind.CATEGORICAL, "STRING")
                 for name in _CATEGORIES]  # fmt: skip
    return ServiceSchema(
        feature_service="synthetic_v1",
        join_keys=(
            InputField("customer_id", FieldType.INTEGER),
            InputField("merchant_id", FieldType.INTEGER),
        ),
        request_fields=(InputField("amount", FieldType.NUMBER),),
        features=tuple(features),
    )


def _levels() -> dict[str, list[str]]:
    return {f"{VIEW}__{name}": [f"{name}-{k:02d}" for k in range(n)]
            for name, n in _CATEGORIES.items()}  # fmt: skip


def _feature_arrays(rng: np.random.Generator, n: int, shift: float) -> dict[str, pa.Array]:
    """One batch of feature columns; ``shift`` moves the features in ``_SHIFTED``."""
    columns: dict[str, pa.Array] = {}
    for i in range(_NUMERIC):
        name = f"num_{i:02d}"
        if i % 2:
            values = rng.lognormal(3.0 + (shift if name in _SHIFTED else 0.0), 0.7, n)
        else:
            values = rng.normal(shift if name in _SHIFTED else 0.0, 1.0, n)
        columns[name] = pa.array(np.round(values, 4), mask=rng.random(n) < 0.01)
    for i in range(_COUNTS):
        name = f"count_{i}"
        lam = 1.5 + i + (3.0 * shift if name in _SHIFTED else 0.0)
        columns[name] = pa.array(rng.poisson(lam, n).astype(np.int64))
    columns["flag"] = pa.array(rng.random(n) < 0.2)
    for name, levels in _CATEGORIES.items():
        weights = 1.0 / np.arange(1, levels + 1)
        codes = rng.choice(levels, n, p=weights / weights.sum()).astype(np.int32)
        dictionary = pa.array([f"{name}-{k:02d}" for k in range(levels)])
        indices = pa.array(codes, mask=rng.random(n) < 0.02)
        columns[name] = pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string())
    return {f"{VIEW}__{name}": array for name, array in columns.items()}


def _scores(columns: dict[str, pa.Array]) -> np.ndarray:
    """A deterministic score, so the model and the log agree on how scores look."""
    a = np.nan_to_num(columns[f"{VIEW}__num_00"].to_numpy(zero_copy_only=False))
    b = columns[f"{VIEW}__count_0"].to_numpy(zero_copy_only=False)
    logit = -3.0 + 0.8 * a + 0.3 * b
    scores: np.ndarray = 1.0 / (1.0 + np.exp(-logit))
    return scores


def write_synthetic_model(models_dir: Path, seed: int = 5, rows: int = 50_000) -> int:
    """Train, profile and register the synthetic model as champion; return its version."""
    import lightgbm as lgb
    import pandas as pd

    from drift.profile import build_profile
    from scoring.model.encoding import encode_matrix
    from scoring.model.registry import ModelRegistry

    schema = synthetic_schema()
    levels = _levels()
    rng = np.random.default_rng(seed)
    raw = _feature_arrays(rng, rows, 0.0)
    frame = {name: pd.Series(array.to_pandas()) for name, array in raw.items()}
    matrix, _ = encode_matrix(schema.features, frame, levels, rows)
    label = (rng.random(rows) < _scores(raw)).astype(np.float64)
    categorical = [j for j, s in enumerate(schema.features) if s.kind is FeatureKind.CATEGORICAL]
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": seed},
        lgb.Dataset(matrix, label, feature_name=list(schema.feature_names),
                    categorical_feature=categorical),
        num_boost_round=30,
    )  # fmt: skip
    scores = np.asarray(booster.predict(matrix), dtype=np.float64)
    numeric = {
        s.name: matrix[:, j]
        for j, s in enumerate(schema.features)
        if s.kind is not FeatureKind.CATEGORICAL
    }
    categorical_raw = {name: raw[name].to_pylist() for name in levels}
    profile = build_profile(numeric, categorical_raw, scores, schema.feature_names)
    now = datetime.now(UTC)
    manifest = {
        "created_at": (now - timedelta(days=30)).isoformat(),
        "feast_schema": schema.to_dict(),
        "categorical_levels": levels,
        "label_column": "label",
        "metrics": {"auc": 0.75, "log_loss": 0.3},
        "training_window": {
            "start": (now - timedelta(days=60)).isoformat(),
            "end": (now - timedelta(days=30)).isoformat(),
            "rows": rows,
            "train_rows": rows,
            "holdout_rows": 0,
            "holdout_start": (now - timedelta(days=30)).isoformat(),
        },
        "postprocess": SYNTHETIC_POSTPROCESS.model_dump(),
    }
    registry = ModelRegistry(models_dir)
    registered = registry.register(
        MODEL,
        files={
            "model.txt": booster.model_to_string().encode(),
            "reference.json": orjson.dumps(profile.to_dict()),
        },
        manifest=manifest,
    )
    registry.set_alias(MODEL, "champion", registered.version)
    return registered.version


def _log_table(
    schema: pa.Schema, rng: np.random.Generator, n: int, first_id: int, day: datetime, shift: float
) -> pa.Table:
    features = _feature_arrays(rng, n, shift)
    scores = _scores(features)
    offsets = np.sort(rng.integers(0, 86_400_000_000, n))
    micros = int(day.timestamp() * 1_000_000) + offsets
    ids = pc.utf8_lpad(pa.array(np.arange(first_id, first_id + n)).cast(pa.string()), 32, "0")
    columns: dict[str, pa.Array] = {
        "request_id": ids,
        "logged_at": pa.array(micros, type=pa.timestamp("us", tz="UTC")),
        "version": pa.array(np.ones(n, dtype=np.int32)),
        "route": pa.repeat(pa.scalar("champion"), n),
        "customer_id": pa.array(rng.integers(1, 20_001, n)),
        "merchant_id": pa.array(rng.integers(1, 2_001, n)),
        "amount": pa.array(np.round(rng.lognormal(3.5, 0.9, n), 2)),
        **features,
        "score": pa.array(scores),
        "label": pa.array(np.where(SYNTHETIC_POSTPROCESS.positive(scores), "1", "0")),
        "missing_count": pa.array(np.zeros(n, dtype=np.int32)),
        "stale_count": pa.array(np.zeros(n, dtype=np.int32)),
        "latency_ms": pa.array(np.round(rng.gamma(2.0, 1.0, n), 3)),
    }
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def write_synthetic_log(
    data_dir: Path,
    rows: int,
    files: int,
    row_group: int,
    shift: float = 0.3,
    seed: int = 9,
) -> SyntheticLog:
    """Write ``rows`` log rows of the synthetic model in ``files`` Parquet files, over days."""
    started = time.perf_counter()
    schema = prediction_log_schema(synthetic_schema())
    root = predictions_dir(data_dir, MODEL)
    rng = np.random.default_rng(seed)
    days = min(files, 5)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    written = 0
    size = 0
    for k in range(files):
        n = rows // files + (1 if k < rows % files else 0)
        # Whole days before today, so every row is in the past and in its date partition.
        day = today - timedelta(days=days - k * days // files)
        folder = root / date_partition(day.date())
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-synthetic-{k:04d}.parquet"
        table = _log_table(schema, rng, n, written, day, shift)
        pq.write_table(table, path, row_group_size=row_group, compression="zstd")
        written += n
        size += path.stat().st_size
    return SyntheticLog(root, written, files, days, size, time.perf_counter() - started)


def measure_drift_job(
    data_dir: Path, log: SyntheticLog, max_rss_bytes: int, timeout_s: float
) -> dict[str, Any]:
    """Run the drift job on the synthetic log in a fresh process: wall time and peak RSS."""
    command = [sys.executable, "-m", "bench.drift_job", "--data-dir", str(data_dir),
               "--window-days", str(log.days + 1)]  # fmt: skip
    run = run_isolated(command, timeout_s=timeout_s, max_rss_bytes=max_rss_bytes)
    result: dict[str, Any] = {
        "rows": log.rows,
        "files": log.files,
        "log_bytes": log.bytes,
        "ok": run.ok,
        "stopped_for": run.stopped_for,
        "process_wall_s": run.wall_s,
        "max_rss_kib": run.max_rss_kib,
    }
    if run.ok:
        result.update(orjson.loads(run.stdout.splitlines()[-1]))
    else:
        result["error"] = run.stderr_tail[-1500:]
    return result


def _child(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the drift job once (bench child).")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--window-days", type=int, required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    from jobs.drift_check import drift_check
    from scoring.model.registry import ModelRegistry

    imported = time.perf_counter()
    result = drift_check(
        ModelRegistry(args.data_dir / "models"),
        args.data_dir,
        MODEL,
        end=datetime.now(UTC),
        window=timedelta(days=args.window_days),
        cooldown=timedelta(hours=6),
    )
    finished = time.perf_counter()
    report = result.report
    summary = {
        "import_s": imported - started,
        "check_s": finished - imported,
        "rows_checked": report.rows,
        "drift_detected": report.drift_detected,
        "action": str(report.action),
        "drifted": report.drifted_features,
    }
    sys.stdout.buffer.write(orjson.dumps(summary) + b"\n")


if __name__ == "__main__":
    _child()
