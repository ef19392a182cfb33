"""The prediction log and the feedback (labels) log, as DESIGN.md lays them out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from scoring.log_schema import LABELS_SCHEMA, prediction_log_schema
from scoring.model import ScoringModel
from scoring.parquet_log import Columns, LogCounters, ParquetLogWriter, PendingBatch
from scoring.settings import Settings


@dataclass(frozen=True)
class ScoredBatch:
    """Everything about one request's rows that goes to the log."""

    model: ScoringModel
    route: str
    request_id: str
    logged_at: datetime
    rows: Sequence[Mapping[str, Any]]
    features: Mapping[str, Sequence[Any]]
    scores: npt.NDArray[np.float64]
    labels: Sequence[Any]
    missing_count: npt.NDArray[np.int64]
    latency_ms: float


def _writer(settings: Settings, root: Path, name: str) -> ParquetLogWriter:
    return ParquetLogWriter(
        root,
        flush_rows=settings.log_flush_rows,
        flush_interval_s=settings.log_flush_interval_s,
        max_buffer_rows=settings.log_max_buffer_rows,
        name=name,
    )


class PredictionLog:
    """Every scored row with the exact features used, in ``logs/predictions/model=/date=/``."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.data_dir / "logs" / "predictions"
        self.writer = _writer(settings, self.root, "prediction-log")
        self._schemas: dict[tuple[str, int], pa.Schema] = {}

    def _schema(self, model: ScoringModel) -> pa.Schema:
        key = (model.name, model.version)
        schema = self._schemas.get(key)
        if schema is None:
            schema = self._schemas[key] = prediction_log_schema(model.schema)
        return schema

    def append(self, batch: ScoredBatch) -> bool:
        """Queue one request's rows; the Arrow conversion happens on the writer thread."""
        n = len(batch.rows)
        partition = (f"model={batch.model.name}", f"date={batch.logged_at.date().isoformat()}")

        def build() -> Columns:
            schema = batch.model.schema
            inputs = [f.name for f in (*schema.join_keys, *schema.request_fields)]
            columns: Columns = {
                "request_id": [batch.request_id] * n,
                "logged_at": [batch.logged_at] * n,
                "version": [batch.model.version] * n,
                "route": [batch.route] * n,
                "score": batch.scores,
                "label": [str(label) for label in batch.labels],
                "missing_count": batch.missing_count,
                "latency_ms": [batch.latency_ms] * n,
            }
            for name in inputs:
                columns[name] = [row.get(name) for row in batch.rows]
            for name, values in batch.features.items():
                columns[name] = values
            return columns

        return self.writer.append(PendingBatch(partition, self._schema(batch.model), n, build))

    def start(self) -> None:
        """Start writing."""
        self.writer.start()

    def close(self) -> LogCounters:
        """Write everything acknowledged and stop."""
        return self.writer.close()


class FeedbackLog:
    """Labels that arrive after scoring, in ``logs/labels/date=/``, joined by ``request_id``."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.data_dir / "logs" / "labels"
        self.writer = _writer(settings, self.root, "feedback-log")

    def append(self, items: Sequence[tuple[str, Any]], received_at: datetime) -> bool:
        """Queue ``(request_id, label)`` pairs."""
        partition = (f"date={received_at.date().isoformat()}",)

        def build() -> Columns:
            return {
                "request_id": [request_id for request_id, _ in items],
                "label": [str(label) for _, label in items],
                "received_at": [received_at] * len(items),
            }

        return self.writer.append(PendingBatch(partition, LABELS_SCHEMA, len(items), build))

    def start(self) -> None:
        """Start writing."""
        self.writer.start()

    def close(self) -> LogCounters:
        """Write everything acknowledged and stop."""
        return self.writer.close()
