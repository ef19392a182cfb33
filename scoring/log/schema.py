"""Where the prediction and label logs live, and the Arrow schema of their rows.

Both are Hive-partitioned Parquet datasets under the data dir (pyarrow, DuckDB and Spark read
them as they are): ``logs/predictions/model=<name>/date=<YYYY-MM-DD>/*.parquet`` and
``logs/labels/date=<YYYY-MM-DD>/*.parquet``. Everything that reads or writes them asks here.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa

from features.schema import FieldType, ServiceSchema


def predictions_dir(data_dir: Path, model: str | None = None) -> Path:
    """The prediction log of every model, or of ``model`` only (its partition)."""
    root = data_dir / "logs" / "predictions"
    return root if model is None else root / model_partition(model)


def labels_dir(data_dir: Path) -> Path:
    """The label (feedback) log."""
    return data_dir / "logs" / "labels"


def model_partition(model: str) -> str:
    """The folder of one model's rows in the prediction log."""
    return f"model={model}"


def date_partition(day: date) -> str:
    """The folder of one UTC day's rows."""
    return f"date={day.isoformat()}"


# Feast value types to Arrow; fixed per model version so every file of a version agrees,
# even when a batch holds only nulls for a column.
_FEATURE_TYPES: dict[str, pa.DataType] = {
    "INT32": pa.int32(),
    "INT64": pa.int64(),
    "FLOAT": pa.float32(),
    "DOUBLE": pa.float64(),
    "BOOL": pa.bool_(),
    "STRING": pa.string(),
    "UNIX_TIMESTAMP": pa.timestamp("us", tz="UTC"),
}

_INPUT_TYPES: dict[FieldType, pa.DataType] = {
    FieldType.INTEGER: pa.int64(),
    FieldType.NUMBER: pa.float64(),
    FieldType.STRING: pa.string(),
    FieldType.BOOLEAN: pa.bool_(),
}

HEAD = [
    pa.field("request_id", pa.string(), nullable=False),
    pa.field("logged_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("version", pa.int32(), nullable=False),
    pa.field("route", pa.string(), nullable=False),
]
TAIL = [
    pa.field("score", pa.float64(), nullable=False),
    pa.field("label", pa.string()),
    pa.field("missing_count", pa.int32(), nullable=False),
    pa.field("stale_count", pa.int32(), nullable=False),
    pa.field("latency_ms", pa.float64(), nullable=False),
]


def prediction_log_schema(schema: ServiceSchema) -> pa.Schema:
    """Columns of one log row: ids, inputs, every feature by Feast full name, outputs.

    ``model`` and ``date`` are not columns of the files: they are the Hive partition keys.
    ``label`` is the post-processed label as text, so numeric and string classes share a type.
    """
    inputs = [pa.field(f.name, _INPUT_TYPES[f.type]) for f in schema.join_keys]
    inputs += [pa.field(f.name, _INPUT_TYPES[f.type]) for f in schema.request_fields]
    features = [pa.field(f.name, _FEATURE_TYPES[f.value_type]) for f in schema.features]
    return pa.schema([*HEAD, *inputs, *features, *TAIL])


LABELS_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("received_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
"""Feedback rows: the realized label of a scored request, as text like the log's ``label``."""
