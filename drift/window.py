"""Read a window of the prediction log, in Arrow record batches, into mergeable counts.

The log is a Hive-partitioned Parquet dataset, ``model=<name>/date=<YYYY-MM-DD>/*.parquet``.
A source may be that dataset's root, one model's directory, one date's directory, any
directory of Parquet files, or a single file. Files are read one at a time, batch by batch,
projecting only the columns a drift check needs, so memory depends on the batch size and the
reference bins, never on the length of the log.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from drift.counts import (
    DEFAULT_VALUE_CAPACITY,
    CategoricalCounts,
    WindowCounts,
)
from drift.profile import ReferenceProfile

FloatArray = npt.NDArray[np.float64]
LogSource = str | os.PathLike[str]

# 64k rows x a few dozen columns is a few tens of MB per batch; readahead is kept at one batch
# because Arrow's default (16) would hold a dozen batches in memory at once.
DEFAULT_BATCH_SIZE = 65_536
_BATCH_READAHEAD = 1

# Labels are joined through an in-memory map request_id -> class, about 150 bytes a label in
# CPython. Labels are far fewer than predictions; past this many the rest are ignored and the
# performance section says so (``labels_truncated``), rather than memory growing without bound.
DEFAULT_MAX_LABELS = 2_000_000

_PARTITIONING = ds.partitioning(
    pa.schema([("model", pa.string()), ("date", pa.string())]), flavor="hive"
)
_TIME_UNITS = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}


class PredictionLogError(ValueError):
    """The prediction log or labels dataset is missing or does not have the expected columns."""


def as_utc(moment: datetime) -> datetime:
    """A timezone-aware UTC datetime; naive datetimes are taken as UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def open_log(source: LogSource, what: str) -> ds.Dataset:
    """The Parquet dataset at ``source`` (Hive-partitioned by model and date where it is)."""
    path = Path(source)
    if not path.exists():
        raise PredictionLogError(f"no {what} at {path}")
    # Names starting with "." or "_" (files being written, then renamed) are skipped by
    # pyarrow's default ignore_prefixes.
    return ds.dataset(str(path), format="parquet", partitioning=_PARTITIONING)


def log_fragments(
    dataset: ds.Dataset, model: str | None, first_day: date | None, last_day: date | None
) -> Iterator[ds.Fragment]:
    """Files of the dataset whose partition keys (when the path has them) fit the window."""
    for fragment in sorted(dataset.get_fragments(), key=lambda f: str(f.path)):
        keys = ds.get_partition_keys(fragment.partition_expression)
        if model is not None and keys.get("model") not in (None, model):
            continue
        day = keys.get("date")
        if day is not None:
            if first_day is not None and day < first_day.isoformat():
                continue
            if last_day is not None and day > last_day.isoformat():
                continue
        yield fragment


def _as_float(column: pa.Array | None, kind: str, rows: int) -> FloatArray:
    """A raw log column as the float64 the reference profiled: bool 1/0, timestamp seconds.

    ``kind`` is the manifest's feature kind; the Arrow type decides the conversion, so an
    integer-typed timestamp column is taken as epoch seconds already.
    """
    del kind
    if column is None:
        return np.full(rows, np.nan)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_timestamp(column.type):
        scale = _TIME_UNITS[column.type.unit]
        micros = pc.cast(pc.cast(column, pa.int64()), pa.float64())
        return np.asarray(micros.to_numpy(zero_copy_only=False), dtype=np.float64) / scale
    floats = pc.cast(column, pa.float64())
    return np.asarray(floats.to_numpy(zero_copy_only=False), dtype=np.float64)


def _category_counts(column: pa.Array | None, rows: int) -> tuple[dict[str, int], int]:
    """Category -> count of a raw string column, and its missing count."""
    if column is None:
        return {}, rows
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    counted = pc.value_counts(column.drop_null())
    values = counted.field("values").to_pylist()
    totals = counted.field("counts").to_pylist()
    return dict(zip(values, totals, strict=True)), column.null_count


def count_batch(
    counts: WindowCounts,
    batch: pa.RecordBatch | pa.Table,
    feature_kinds: Mapping[str, str] | None = None,
    labels: Mapping[str, int] | None = None,
) -> None:
    """Add one batch of log rows to ``counts`` (in place)."""
    rows = batch.num_rows
    if rows == 0:
        return
    names = set(batch.schema.names)
    kinds = feature_kinds or {}

    def column(name: str) -> pa.Array | None:
        return batch.column(name) if name in names else None

    counts.rows += rows
    for name, feature in counts.features.items():
        if isinstance(feature, CategoricalCounts):
            value_counts, missing = _category_counts(column(name), rows)
            feature.add(value_counts, missing)
        else:
            feature.add(_as_float(column(name), kinds.get(name, "numeric"), rows))
    if "score" not in names:
        raise PredictionLogError("the prediction log has no 'score' column")
    scores = _as_float(column("score"), "numeric", rows)
    counts.score.add(scores)

    stamps = column("logged_at")
    if stamps is not None and stamps.null_count < rows:
        low, high = pc.min_max(stamps).values()
        counts.first_logged_at = _earliest(counts.first_logged_at, low.as_py())
        counts.last_logged_at = _latest(counts.last_logged_at, high.as_py())

    ids = column("request_id")
    if labels and ids is not None:
        # -1: no label for this request; else 1 for the positive class, 0 for the other.
        found = np.fromiter((labels.get(i, -1) for i in ids.to_pylist()), dtype=np.int8, count=rows)
        has_label = found >= 0
        if has_label.any():
            counts.labelled.add(scores[has_label], found[has_label] == 1)


def _earliest(a: datetime | None, b: Any) -> datetime | None:
    if not isinstance(b, datetime):
        return a
    return b if a is None else min(a, b)


def _latest(a: datetime | None, b: Any) -> datetime | None:
    if not isinstance(b, datetime):
        return a
    return b if a is None else max(a, b)


def window_filter(
    schema: pa.Schema, version: int | None, start: datetime | None, end: datetime | None
) -> ds.Expression | None:
    """Rows of ``version`` (if given) logged in ``[start, end)``; None when nothing is filtered."""
    conditions: list[ds.Expression] = []
    if start is not None or end is not None:
        if "logged_at" not in schema.names:
            raise PredictionLogError("the prediction log has no 'logged_at' column to filter on")
        stamp_type = schema.field("logged_at").type
        if start is not None:
            conditions.append(pc.field("logged_at") >= pa.scalar(as_utc(start), stamp_type))
        if end is not None:
            conditions.append(pc.field("logged_at") < pa.scalar(as_utc(end), stamp_type))
    if version is not None and "version" in schema.names:
        conditions.append(pc.field("version") == version)
    if not conditions:
        return None
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = combined & condition
    return combined


def count_window(
    source: LogSource,
    reference: ReferenceProfile,
    feature_kinds: Mapping[str, str] | None = None,
    *,
    model: str | None = None,
    version: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    labels: Mapping[str, int] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    value_capacity: int = DEFAULT_VALUE_CAPACITY,
) -> WindowCounts:
    """Count the log rows of ``model`` (and ``version``) logged in ``[start, end)``.

    ``labels`` maps request_id to 1 (positive class) or 0; see :func:`read_labels`.
    """
    dataset = open_log(source, "prediction log")
    counts = WindowCounts.on(reference, value_capacity)
    wanted = ["request_id", "logged_at", "version", "score", *reference.features]
    first_day = as_utc(start).date() if start is not None else None
    last_day = as_utc(end).date() if end is not None else None
    for fragment in log_fragments(dataset, model, first_day, last_day):
        try:
            schema = fragment.physical_schema
            if "score" not in schema.names:  # any Parquet file can be handed in as a window
                raise PredictionLogError(
                    f"{fragment.path} has no 'score' column: it is not a prediction log"
                )
            columns = [name for name in wanted if name in schema.names]
            batches = fragment.to_batches(
                columns=columns,
                filter=window_filter(schema, version, start, end),
                batch_size=batch_size,
                batch_readahead=_BATCH_READAHEAD,
            )
            for batch in batches:
                count_batch(counts, batch, feature_kinds, labels)
        except FileNotFoundError:
            # Compaction may remove a file between listing and reading; its rows live on in
            # the compacted file, which a later run counts.
            continue
    return counts


def _positive_mask(column: pa.ChunkedArray, positive_label: object) -> npt.NDArray[np.bool_]:
    """True where a label equals the positive class, comparing like with like."""
    if pa.types.is_boolean(column.type):
        target: Any = str(positive_label).lower() in {"1", "true"}
    elif pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        target = float(positive_label)  # type: ignore[arg-type]
    else:
        column = pc.cast(column, pa.string())
        target = str(positive_label)
    equal = pc.fill_null(pc.equal(column, target), False)
    return np.asarray(equal.to_numpy(zero_copy_only=False), dtype=bool)


def read_labels(
    source: LogSource,
    positive_label: object,
    since: datetime | None = None,
    max_labels: int = DEFAULT_MAX_LABELS,
) -> tuple[dict[str, int], bool]:
    """Map request_id -> 1 (positive) / 0 from the labels dataset; the last received wins.

    Only labels received on or after ``since``'s date are read (feedback comes after the
    prediction). Returns the map and whether ``max_labels`` cut it short.
    """
    dataset = open_log(source, "labels dataset")
    first_day = as_utc(since).date() if since is not None else None
    tables: list[pa.Table] = []
    kept = 0
    truncated = False
    for fragment in log_fragments(dataset, None, first_day, None):
        schema = fragment.physical_schema
        missing = {"request_id", "label"} - set(schema.names)
        if missing:
            raise PredictionLogError(f"labels file {fragment.path} lacks {sorted(missing)}")
        columns = [c for c in ("request_id", "label", "received_at") if c in schema.names]
        for batch in fragment.to_batches(columns=columns, batch_readahead=_BATCH_READAHEAD):
            if kept + batch.num_rows > max_labels:
                batch = batch.slice(0, max_labels - kept)
                truncated = True
            tables.append(pa.Table.from_batches([batch]))
            kept += batch.num_rows
            if truncated:
                break
        if truncated:
            break
    if not tables:
        return {}, False
    table = pa.concat_tables(tables, promote_options="permissive")
    table = table.filter(pc.is_valid(table.column("request_id")))
    table = table.filter(pc.is_valid(table.column("label")))
    if "received_at" in table.column_names:
        # Sorted by arrival, a later label overwrites an earlier one in the dict below.
        table = table.sort_by("received_at")
    positive = _positive_mask(table.column("label"), positive_label)
    ids = table.column("request_id").to_pylist()
    return dict(zip(ids, positive.astype(np.int8).tolist(), strict=True)), truncated
