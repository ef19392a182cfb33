"""The prediction log: every scored row with the exact features used, queued for the writer."""

from __future__ import annotations

import itertools
import marshal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from scoring.log.batch import Build, Columns, PendingBatch
from scoring.log.schema import (
    date_partition,
    model_partition,
    prediction_log_schema,
    predictions_dir,
)
from scoring.log.writer import LogCounters, log_writer
from scoring.model.encoding import BoolArray, FloatArray
from scoring.model.loaded import ScoringModel, load_model
from scoring.model.manifest import PostProcessing
from scoring.model.registry import ModelRegistry
from scoring.settings import Settings

_DAY_US = 86_400_000_000


@dataclass(frozen=True)
class LogLayout:
    """What the log needs to know of one model version, worked out once."""

    schema: pa.Schema
    partition: str
    """The ``model=`` partition."""
    version: int
    postprocess: PostProcessing
    labels: tuple[str, str]
    """The negative and the positive label, as the log's text."""
    inputs: tuple[str, ...]
    features: tuple[str, ...]
    encoded: tuple[tuple[int, pa.DataType], ...]
    """Position in ``features`` and log type of each feature logged from the model's matrix."""
    kept: tuple[int, ...]
    """Positions in ``features`` of the features whose raw values are kept: text, timestamps,
    and integers, in case a value is one that float64 cannot hold."""
    kept_names: tuple[str, ...]
    model: str = ""
    """The model's name (the spool names the layout of its rows by name and version)."""

    @classmethod
    def of(cls, model: ScoringModel) -> LogLayout:
        """The layout of ``model``'s log rows."""
        schema = model.schema
        inputs = tuple(f.name for f in (*schema.join_keys, *schema.request_fields))
        features = tuple(schema.feature_names)
        post = model.manifest.postprocess
        negative, positive = (str(label) for label in post.labels)
        log_schema = prediction_log_schema(schema)
        types = [log_schema.field(name).type for name in features]
        encoded = tuple((j, t) for j, t in enumerate(types) if _encodes_exactly(t))
        kept = tuple(j for j, t in enumerate(types) if not _encodes_exactly(t) or _integer(t))
        return cls(
            schema=log_schema,
            partition=model_partition(model.name),
            version=model.version,
            postprocess=post,
            labels=(negative, positive),
            inputs=inputs,
            features=features,
            encoded=encoded,
            kept=kept,
            kept_names=tuple(features[j] for j in kept),
            model=model.name,
        )


def _integer(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_integer(arrow_type))


def _encodes_exactly(arrow_type: pa.DataType) -> bool:
    """Whether a feature of this log type is its own float64 encoding (integers: mostly)."""
    return bool(
        pa.types.is_floating(arrow_type) or pa.types.is_boolean(arrow_type) or _integer(arrow_type)
    )


class LoggedRequest(Protocol):
    """What the log keeps of one request in a computation (the data plane's request rows)."""

    @property
    def request_id(self) -> str: ...
    @property
    def route(self) -> str: ...
    @property
    def rows(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def started(self) -> float:
        """``time.perf_counter()`` when the request arrived."""
        ...


class Scored(Protocol):
    """A computation's features as read, scores and missing flags, row for row."""

    @property
    def columns(self) -> Mapping[str, Sequence[Any]]: ...
    @property
    def scores(self) -> FloatArray: ...
    @property
    def missing(self) -> BoolArray: ...
    @property
    def stale(self) -> BoolArray | None:
        """Where a value was too old to serve (it is in ``missing`` too); None when none was."""
        ...


class LoggedRows(NamedTuple):
    """One computation's rows (one request or a micro-batch) as they wait for the writer.

    Only what the writer needs, mostly references to what the request path made anyway:
    the matrix, the scores, the input values and the features that the matrix cannot give
    back exactly. The request's own objects (its rows, the features as read) are left to be
    freed as soon as it is answered: holding them for a writer round (2,000 rows, about a
    kilobyte each) cost a worker about 3 us a request, in memory it then touched cold.
    """

    layout: LogLayout
    logged_at: int
    """Microseconds since the epoch, UTC: Arrow converts ints far faster than datetimes."""
    scored_at: float
    """``time.perf_counter()`` when the scores were ready: latency is measured up to there."""
    requests: Sequence[tuple[str, str, int, float]]
    """Each request's id, route, row count and ``time.perf_counter()`` at arrival."""
    inputs: Sequence[Sequence[Any]]
    """The values of each of ``layout.inputs`` (join keys, request fields), one per row."""
    kept: Sequence[Sequence[Any] | None]
    """The features of ``layout.kept`` as read, one value per row; None if not returned."""
    matrix: FloatArray
    """Every feature as the model took it: numbers and flags are logged from here, in bulk."""
    scores: FloatArray
    missing: BoolArray
    stale: BoolArray | None


def log_columns(computations: Sequence[LoggedRows]) -> Columns:
    """The log columns of computations of one model version; run by the writer thread.

    Per-request and per-computation values are converted once each and spread over their
    rows by Arrow and NumPy: repeating Python objects row by row cost more than the rest.
    """
    layout = computations[0].layout
    requests = [
        (request_id, route, rows, (c.scored_at - started) * 1000)
        for c in computations
        for request_id, route, rows, started in c.requests
    ]
    scores = _stacked([c.scores for c in computations])
    missing = _stacked([c.missing for c in computations])
    n = len(scores)
    stamps = np.repeat(
        np.array([c.logged_at for c in computations], dtype=np.int64),
        [len(c.scores) for c in computations],
    )
    positive = layout.postprocess.positive(scores).astype(np.int8)
    columns: Columns = {
        "logged_at": stamps,
        "version": np.full(n, layout.version, dtype=np.int32),
        "score": scores,
        "label": pa.array(layout.labels, pa.string()).take(positive),
        "missing_count": missing.sum(axis=1, dtype=np.int32),
        "stale_count": _stacked([_stale_counts(c) for c in computations]),
    }
    request_ids = pa.array([r[0] for r in requests], pa.string())
    routes = pa.array([r[1] for r in requests], pa.string())
    latencies = np.array([r[3] for r in requests], dtype=np.float64)
    counts = [r[2] for r in requests]
    if len(counts) == n and min(counts, default=1) == 1:  # one row a request: nothing to spread
        columns.update(request_id=request_ids, route=routes, latency_ms=latencies)
    else:  # row i belongs to request picks[i]
        picks = np.repeat(np.arange(len(requests)), counts)
        columns.update(
            request_id=request_ids.take(picks),
            route=routes.take(picks),
            latency_ms=latencies[picks],
        )
    for i, name in enumerate(layout.inputs):
        columns[name] = _chained([c.inputs[i] for c in computations])
    matrix = _stacked([c.matrix for c in computations])
    for j, arrow_type in layout.encoded:
        array = _from_matrix(matrix[:, j], arrow_type)
        if array is not None:
            columns[layout.features[j]] = array
    for i, j in enumerate(layout.kept):  # text, timestamps, integers float64 cannot hold
        name = layout.features[j]
        if name not in columns:
            columns[name] = _chained([_or_missing(c.kept[i], len(c.scores)) for c in computations])
    return columns


def _stale_counts(computation: LoggedRows) -> npt.NDArray[np.int32]:
    """Stale features per row of one computation."""
    if computation.stale is None:
        return np.zeros(len(computation.scores), dtype=np.int32)
    counts: npt.NDArray[np.int32] = computation.stale.sum(axis=1, dtype=np.int32)
    return counts


def _or_missing(values: Sequence[Any] | None, rows: int) -> Sequence[Any]:
    """A feature's values as read; all missing if the store did not return it at all."""
    return [None] * rows if values is None else values


def _chained(parts: Sequence[Sequence[Any]]) -> Sequence[Any]:
    """The parts end to end; a lone one as it is, not copied."""
    return parts[0] if len(parts) == 1 else list(itertools.chain.from_iterable(parts))


def _stacked(arrays: Sequence[npt.NDArray[Any]]) -> npt.NDArray[Any]:
    """The arrays end to end; a lone one as it is, not copied."""
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


_EXACT_INTEGERS = float(2**53)
"""Whole numbers up to this magnitude survive a round trip through float64."""


def _from_matrix(column: FloatArray, arrow_type: pa.DataType) -> pa.Array | None:
    """A feature's log column from its float64 encoding, or None if that would change a value.

    A number or a flag is encoded as itself in float64, NaN where missing, so the matrix the
    model took holds the raw values: one NumPy column converts in a fraction of the time as
    many Python objects take. Integers must be whole and within float64's exact range.
    """
    if pa.types.is_floating(arrow_type):
        values = column if arrow_type == pa.float64() else column.astype(np.float32)
        return pa.array(values, type=arrow_type, from_pandas=True)  # NaN is null
    missing = np.isnan(column)
    present = np.where(missing, 0.0, column)
    if pa.types.is_boolean(arrow_type):
        return pa.array(present != 0.0, type=arrow_type, mask=missing)
    dtype = np.dtype(arrow_type.to_pandas_dtype())
    info = np.iinfo(dtype)
    low, high = max(float(info.min), -_EXACT_INTEGERS), min(float(info.max), _EXACT_INTEGERS)
    if not (np.all((present >= low) & (present <= high)) and np.all(present == np.trunc(present))):
        return None
    return pa.array(present.astype(dtype), type=arrow_type, mask=missing)


_F8, _BOOL = np.dtype(np.float64), np.dtype(np.bool_)


class LoggedRowsCodec:
    """:class:`LoggedRows` as spool bytes, on the request path: a few microseconds a request.

    ``marshal`` (the standard library's serializer of plain values, written in C) takes the
    ids, inputs and values as they are, the arrays as their raw buffers. Building the log's
    Arrow columns for each request instead would cost more than the rest of the log; a value
    ``marshal`` cannot hold (a timestamp feature) makes it raise ValueError, and the writer
    spools that request's rows as Arrow. Spool files are read back by the same installation.
    """

    def __init__(self, layouts: Callable[[str, int], LogLayout]) -> None:
        self._layouts = layouts

    def encode(self, payload: LoggedRows) -> bytes:
        """The rows' fields, field by field, each array as its shape and bytes."""
        matrix, missing, stale = payload.matrix, payload.missing, payload.stale
        if (
            matrix.dtype != _F8
            or payload.scores.dtype != _F8
            or missing.dtype != _BOOL
            or (stale is not None and stale.dtype != _BOOL)
        ):
            raise ValueError("arrays of other types than the log's")
        layout = payload.layout
        fields: tuple[Any, ...] = (
            layout.model, layout.version, payload.logged_at, payload.scored_at,
            payload.requests, payload.inputs, payload.kept,
            matrix.shape, matrix.tobytes(), payload.scores.tobytes(),
            missing.shape, missing.tobytes(),
            None if stale is None else (stale.shape, stale.tobytes()),
        )  # fmt: skip
        return marshal.dumps(fields)

    def decode(self, data: bytes) -> tuple[pa.Schema, LoggedRows, Build]:
        """The rows back, with the layout of their model version."""
        fields = marshal.loads(data)
        (model, version, logged_at, scored_at, requests, inputs, kept,
         matrix_shape, matrix, scores, missing_shape, missing, stale) = fields  # fmt: skip
        layout = self._layouts(model, version)
        rows = LoggedRows(
            layout,
            logged_at,
            scored_at,
            requests,
            inputs,
            kept,
            np.frombuffer(matrix, _F8).reshape(matrix_shape),
            np.frombuffer(scores, _F8),
            np.frombuffer(missing, _BOOL).reshape(missing_shape),
            None if stale is None else np.frombuffer(stale[1], _BOOL).reshape(stale[0]),
        )
        return layout.schema, rows, log_columns


class PredictionLog:
    """Every scored row with the exact features used, in ``logs/predictions/model=/date=/``."""

    def __init__(self, settings: Settings) -> None:
        self.root = predictions_dir(settings.data_dir)
        self._registry = ModelRegistry(settings.models_dir)
        self._layouts: dict[tuple[str, int], LogLayout] = {}
        self.writer = log_writer(
            settings, self.root, "prediction-log", LoggedRowsCodec(self._layout_of)
        )
        self._day, self._day_partition = -1, ""

    def _layout_of(self, name: str, version: int) -> LogLayout:
        """The layout of a version, loaded from the registry if this process never served it."""
        layout = self._layouts.get((name, version))
        if layout is None:  # rows recovered from a dead worker's spool
            layout = self._layout(load_model(self._registry, name, version))
        return layout

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
        requests: Sequence[LoggedRequest],
        rows: Sequence[Mapping[str, Any]],
        computed: Scored,
        matrix: FloatArray,
        scored_at: float,
    ) -> bool:
        """Queue one computation's rows; columns and Arrow are built on the writer thread.

        ``rows`` are every request's rows in ``requests`` order, ``matrix`` the features as
        the model took them; ``scored_at`` is the ``time.perf_counter()`` when the scores
        were ready: latency is measured up to there.
        """
        logged_at = time.time_ns() // 1000
        layout = self._layout(model)
        features = computed.columns
        logged = LoggedRows(
            layout,
            logged_at,
            scored_at,
            [(r.request_id, r.route, len(r.rows), r.started) for r in requests],
            [[row[name] for row in rows] for name in layout.inputs],
            [features.get(name) for name in layout.kept_names],
            matrix,
            computed.scores,
            computed.missing,
            computed.stale,
        )
        partition = (layout.partition, self._date(logged_at))
        return self.writer.append(
            PendingBatch(partition, layout.schema, len(rows), logged, log_columns)
        )

    def _date(self, stamp_us: int) -> str:
        """The ``date=`` partition of a time in microseconds, worked out once a day."""
        day = stamp_us // _DAY_US
        if day != self._day:
            date = datetime.fromtimestamp(day * 86_400, tz=UTC).date()
            self._day, self._day_partition = day, date_partition(date)
        return self._day_partition

    def start(self) -> None:
        """Start writing."""
        self.writer.start()

    def close(self) -> LogCounters:
        """Write everything acknowledged and stop."""
        return self.writer.close()
