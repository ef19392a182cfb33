"""The prediction log and the feedback (labels) log, as DESIGN.md lays them out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from scoring.batching import Computed, RowsToScore
from scoring.log_schema import LABELS_SCHEMA, prediction_log_schema
from scoring.model import ScoringModel
from scoring.parquet_log import Columns, LogCounters, ParquetLogWriter, PendingBatch
from scoring.settings import Settings


@dataclass(frozen=True)
class ScoredBatch:
    """One computation's rows (one request, or a micro-batch of several) on their way to the log."""

    model: ScoringModel
    requests: Sequence[RowsToScore]
    rows: Sequence[Mapping[str, Any]]
    """Every request's rows, in ``requests`` order."""
    computed: Computed
    logged_at: datetime
    scored_at: float
    """``time.perf_counter()`` when the scores were ready: latency is measured up to here."""

    def columns(self) -> Columns:
        """The log columns of these rows; run by the writer thread, off the request path.

        Mostly plain lists: most computations hold one row, and the writer converts each
        column of many of them to Arrow at once, so a NumPy call per column per computation
        would cost more than it saves.
        """
        n = len(self.rows)
        schema = self.model.schema
        post = self.model.manifest.postprocess
        negative, positive = (str(label) for label in post.labels)
        scores = self.computed.scores
        request_ids: list[Any] = []
        routes: list[Any] = []
        latencies: list[Any] = []
        for request in self.requests:
            count = len(request.rows)
            request_ids += [request.request_id] * count
            routes += [request.route] * count
            latencies += [(self.scored_at - request.started) * 1000] * count
        columns: Columns = {
            "request_id": request_ids,
            "logged_at": [self.logged_at] * n,
            "version": [self.model.version] * n,
            "route": routes,
            "score": scores,
            "label": [positive if s >= post.threshold else negative for s in scores.tolist()],
            "missing_count": self.computed.missing.sum(axis=1, dtype=np.int32),
            "latency_ms": latencies,
        }
        for field in (*schema.join_keys, *schema.request_fields):
            columns[field.name] = [row.get(field.name) for row in self.rows]
        features = self.computed.columns
        for name in schema.feature_names:
            values = features.get(name)
            columns[name] = [None] * n if values is None else values
        return columns


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
        """Queue one computation's rows; the Arrow conversion happens on the writer thread."""
        partition = (f"model={batch.model.name}", f"date={batch.logged_at.date().isoformat()}")
        pending = PendingBatch(partition, self._schema(batch.model), len(batch.rows), batch.columns)
        return self.writer.append(pending)

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
