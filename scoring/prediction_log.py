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


def log_columns(batches: Sequence[ScoredBatch]) -> Columns:
    """The log columns of computations of one model version; run by the writer thread.

    Built for all the computations a writer round holds at once: most hold one row, and
    a set of columns per computation cost more than the Arrow conversion of its row.
    """
    model = batches[0].model
    schema = model.schema
    post = model.manifest.postprocess
    negative, positive = (str(label) for label in post.labels)
    request_ids: list[Any] = []
    routes: list[Any] = []
    latencies: list[Any] = []
    logged_at: list[Any] = []
    rows: list[Mapping[str, Any]] = []
    for batch in batches:
        for request in batch.requests:
            count = len(request.rows)
            request_ids += [request.request_id] * count
            routes += [request.route] * count
            latencies += [(batch.scored_at - request.started) * 1000] * count
        logged_at += [batch.logged_at] * len(batch.rows)
        rows += batch.rows
    if len(batches) == 1:
        scores, missing = batches[0].computed.scores, batches[0].computed.missing
    else:
        scores = np.concatenate([batch.computed.scores for batch in batches])
        missing = np.concatenate([batch.computed.missing for batch in batches])
    n = len(rows)
    threshold = post.threshold
    columns: Columns = {
        "request_id": request_ids,
        "logged_at": logged_at,
        "version": [model.version] * n,
        "route": routes,
        "score": scores,
        "label": [positive if s >= threshold else negative for s in scores.tolist()],
        "missing_count": missing.sum(axis=1, dtype=np.int32),
        "latency_ms": latencies,
    }
    for field in (*schema.join_keys, *schema.request_fields):
        name = field.name
        columns[name] = [row.get(name) for row in rows]
    for name in schema.feature_names:
        values: list[Any] = []
        for batch in batches:
            computed = batch.computed.columns.get(name)
            values += [None] * len(batch.rows) if computed is None else computed
        columns[name] = values
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
        schema = self._schema(batch.model)
        return self.writer.append(
            PendingBatch(partition, schema, len(batch.rows), batch, log_columns)
        )

    def start(self) -> None:
        """Start writing."""
        self.writer.start()

    def close(self) -> LogCounters:
        """Write everything acknowledged and stop."""
        return self.writer.close()


def _labels(payloads: Sequence[tuple[Sequence[tuple[str, Any]], datetime]]) -> Columns:
    request_ids: list[Any] = []
    labels: list[Any] = []
    received: list[Any] = []
    for items, received_at in payloads:
        request_ids += [request_id for request_id, _ in items]
        labels += [str(label) for _, label in items]
        received += [received_at] * len(items)
    return {"request_id": request_ids, "label": labels, "received_at": received}


class FeedbackLog:
    """Labels that arrive after scoring, in ``logs/labels/date=/``, joined by ``request_id``."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.data_dir / "logs" / "labels"
        self.writer = _writer(settings, self.root, "feedback-log")

    def append(self, items: Sequence[tuple[str, Any]], received_at: datetime) -> bool:
        """Queue ``(request_id, label)`` pairs."""
        partition = (f"date={received_at.date().isoformat()}",)
        pending = PendingBatch(partition, LABELS_SCHEMA, len(items), (items, received_at), _labels)
        return self.writer.append(pending)

    def start(self) -> None:
        """Start writing."""
        self.writer.start()

    def close(self) -> LogCounters:
        """Write everything acknowledged and stop."""
        return self.writer.close()
