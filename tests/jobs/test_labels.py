"""Feedback labels for retraining: label files of every age read as the model's classes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.labels import feedback_labels
from scoring.log.schema import LABELS_SCHEMA, date_partition, labels_dir, predictions_dir
from scoring.model.registry import ModelRegistry
from scoring.settings import Settings

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


def _write_log(data_dir: Path, request_ids: list[str]) -> None:
    folder = predictions_dir(data_dir, "fraud") / date_partition(NOW.date())
    folder.mkdir(parents=True)
    n = len(request_ids)
    table = pa.table(
        {
            "request_id": request_ids,
            "logged_at": pa.array([NOW] * n, pa.timestamp("us", tz="UTC")),
            "customer_id": list(range(n)),
            "merchant_id": [7] * n,
            "amount": [10.0 * i for i in range(n)],
        }
    )
    pq.write_table(table, folder / "part-0.parquet")


def _write_labels(data_dir: Path, name: str, rows: list[tuple[str, str]], minutes: int) -> None:
    folder = labels_dir(data_dir) / date_partition(NOW.date())
    folder.mkdir(parents=True, exist_ok=True)
    received = NOW + timedelta(minutes=minutes)
    table = pa.table(
        {
            "request_id": [r for r, _ in rows],
            "label": [label for _, label in rows],
            "received_at": [received] * len(rows),
        },
        schema=LABELS_SCHEMA,
    )
    pq.write_table(table, folder / name)


def test_older_label_files_with_other_spellings_are_read_as_classes(
    settings: Settings, tmp_path: Path
) -> None:
    manifest = ModelRegistry(settings.models_dir).manifest("fraud", 1)
    assert tuple(manifest.postprocess.labels) == (0, 1)
    _write_log(tmp_path, ["a", "b", "c", "d", "e", "f"])
    # Written before labels were read as classes on arrival: the client's spelling, as text.
    _write_labels(
        tmp_path,
        "old.parquet",
        [("a", "True"), ("b", "1.0"), ("c", "False"), ("d", "0.0"), ("e", "maybe"), ("f", "1")],
        minutes=1,
    )
    # Written since: the class's text. A later label of a request replaces its earlier one.
    _write_labels(tmp_path, "new.parquet", [("c", "1"), ("f", "0")], minutes=2)

    frame = feedback_labels(
        tmp_path, "fraud", manifest.feature_schema, "is_fraud", manifest.postprocess.labels
    )
    by_customer = dict(zip(frame["customer_id"], frame["is_fraud"], strict=True))
    # a True -> 1, b 1.0 -> 1, c replaced by 1, d 0.0 -> 0, e names no class, f replaced by 0
    assert by_customer == {0: 1, 1: 1, 2: 1, 3: 0, 5: 0}
    assert frame["is_fraud"].dtype.kind == "i"
