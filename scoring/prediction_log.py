"""The prediction log and the feedback (labels) log, as DESIGN.md lays them out."""

from __future__ import annotations

import itertools
import operator
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from scoring.batching import Computed, RowsToScore
from scoring.encoding import BoolArray, FloatArray
from scoring.log_schema import LABELS_SCHEMA, prediction_log_schema
from scoring.model import ScoringModel
from scoring.parquet_log import Columns, LogCounters, ParquetLogWriter, PendingBatch
from scoring.settings import Settings

_DAY_US = 86_400_000_000

Values = Callable[[Mapping[str, Any]], tuple[Any, ...]]


def _values_of(names: Sequence[str]) -> Values:
    """A function returning a mapping's values for ``names``, always as a tuple."""
    if len(names) == 1:
        only = names[0]
        return lambda mapping: (mapping[only],)
    if not names:
        return lambda _mapping: ()
    return operator.itemgetter(*names)


@dataclass(frozen=True)
class LogLayout:
    """What the log needs to know of one model version, worked out once."""

    schema: pa.Schema
    partition: str
    """The ``model=`` partition."""
    version: int
    threshold: float
    labels: tuple[str, str]
    """The negative and the positive label, as the log's text."""
    inputs: tuple[str, ...]
    input_values: Values
    features: tuple[str, ...]
    feature_values: Values

    @classmethod
    def of(cls, model: ScoringModel) -> LogLayout:
        """The layout of ``model``'s log rows."""
        schema = model.schema
        inputs = tuple(f.name for f in (*schema.join_keys, *schema.request_fields))
        features = tuple(schema.feature_names)
        post = model.manifest.postprocess
        negative, positive = (str(label) for label in post.labels)
        return cls(
            schema=prediction_log_schema(schema),
            partition=f"model={model.name}",
            version=model.version,
            threshold=post.threshold,
            labels=(negative, positive),
            inputs=inputs,
            input_values=_values_of(inputs),
            features=features,
            feature_values=_values_of(features),
        )


class LoggedRows(NamedTuple):
    """One computation's rows (one request or a micro-batch) as they wait for the writer.

    Plain values in tuples, not the request's own dicts and lists: the garbage collector
    stops tracking tuples of plain values, while the lists of a few hundred computations,
    held for a tenth of a second, cost about 5% of throughput at saturation.
    """

    layout: LogLayout
    logged_at: int
    """Microseconds since the epoch, UTC: Arrow converts ints far faster than datetimes."""
    requests: tuple[tuple[str, str, int, float], ...]
    """``(request_id, route, rows, latency_ms)`` of each request, in row order."""
    inputs: tuple[tuple[Any, ...], ...]
    """Each row's join keys and request fields, in ``layout.inputs`` order."""
    features: tuple[tuple[Any, ...], ...]
    """Each row's features, in ``layout.features`` order."""
    scores: FloatArray
    missing: BoolArray


def log_columns(computations: Sequence[LoggedRows]) -> Columns:
    """The log columns of computations of one model version; run by the writer thread."""
    layout = computations[0].layout
    negative, positive = layout.labels
    request_ids: list[Any] = []
    routes: list[Any] = []
    latencies: list[Any] = []
    logged_at: list[int] = []
    for computation in computations:
        for request_id, route, count, latency_ms in computation.requests:
            request_ids += [request_id] * count
            routes += [route] * count
            latencies += [latency_ms] * count
        logged_at += [computation.logged_at] * len(computation.features)
    if len(computations) == 1:
        scores, missing = computations[0].scores, computations[0].missing
    else:
        scores = np.concatenate([c.scores for c in computations])
        missing = np.concatenate([c.missing for c in computations])
    n = len(request_ids)
    threshold = layout.threshold
    columns: Columns = {
        "request_id": request_ids,
        "logged_at": logged_at,
        "version": [layout.version] * n,
        "route": routes,
        "score": scores,
        "label": [positive if s >= threshold else negative for s in scores.tolist()],
        "missing_count": missing.sum(axis=1, dtype=np.int32),
        "latency_ms": latencies,
    }
    columns.update(_transposed([c.inputs for c in computations], layout.inputs))
    columns.update(_transposed([c.features for c in computations], layout.features))
    return columns


def _transposed(
    parts: Sequence[tuple[tuple[Any, ...], ...]], names: Sequence[str]
) -> dict[str, Sequence[Any]]:
    """Columns by name from the row tuples of several parts, in one C-level pass."""
    transposed = list(zip(*itertools.chain.from_iterable(parts), strict=True))
    if not transposed:  # no rows, or no such columns
        transposed = [()] * len(names)
    return dict(zip(names, transposed, strict=True))


def _writer(settings: Settings, root: Path, name: str) -> ParquetLogWriter:
    return ParquetLogWriter(
        root,
        flush_rows=settings.log_flush_rows,
        flush_interval_s=settings.log_flush_interval_s,
        max_buffer_rows=settings.log_max_buffer_rows,
        name=name,
        unique_columns=("request_id",),
    )


class PredictionLog:
    """Every scored row with the exact features used, in ``logs/predictions/model=/date=/``."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.data_dir / "logs" / "predictions"
        self.writer = _writer(settings, self.root, "prediction-log")
        self._layouts: dict[tuple[str, int], LogLayout] = {}
        self._day, self._day_partition = -1, ""

    def _layout(self, model: ScoringModel) -> LogLayout:
        # A version's manifest never changes, so neither does its layout.
        key = (model.name, model.version)
        layout = self._layouts.get(key)
        if layout is None:
            layout = self._layouts[key] = LogLayout.of(model)
        return layout

    def append(
        self,
        model: ScoringModel,
        requests: Sequence[RowsToScore],
        rows: Sequence[Mapping[str, Any]],
        computed: Computed,
        scored_at: float,
    ) -> bool:
        """Queue one computation's rows; columns and Arrow are built on the writer thread.

        ``rows`` are every request's rows in ``requests`` order; ``scored_at`` is the
        ``time.perf_counter()`` when the scores were ready: latency is measured up to there.
        """
        logged_at = time.time_ns() // 1000
        layout = self._layout(model)
        features = computed.columns
        try:
            per_feature = layout.feature_values(features)
        except KeyError:  # a feature the store did not return
            per_feature = tuple(features.get(name, [None] * len(rows)) for name in layout.features)
        logged = LoggedRows(
            layout=layout,
            logged_at=logged_at,
            requests=tuple(
                (r.request_id, r.route, len(r.rows), (scored_at - r.started) * 1000)
                for r in requests
            ),
            inputs=tuple(map(layout.input_values, rows)),
            features=tuple(zip(*per_feature, strict=True)),
            scores=computed.scores,
            missing=computed.missing,
        )
        return self.writer.append(
            PendingBatch(
                (layout.partition, self._date(logged_at)),
                layout.schema,
                len(rows),
                logged,
                log_columns,
            )
        )

    def _date(self, stamp_us: int) -> str:
        """The ``date=`` partition of a time in microseconds, worked out once a day."""
        day = stamp_us // _DAY_US
        if day != self._day:
            date = datetime.fromtimestamp(day * 86_400, tz=UTC).date()
            self._day, self._day_partition = day, f"date={date.isoformat()}"
        return self._day_partition

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
