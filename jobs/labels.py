"""Labels for retraining: the model's label source plus feedback joined to the prediction log."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from features.schema import ServiceSchema
from features.training import EVENT_TIMESTAMP
from scoring.log.schema import labels_dir, predictions_dir
from scoring.model.label_classes import class_of


def _dataset(root: Path) -> ds.Dataset | None:
    if not root.is_dir() or not any(root.rglob("*.parquet")):
        return None
    return ds.dataset(root, format="parquet", partitioning="hive")


def feedback_labels(
    data_dir: Path,
    model: str,
    schema: ServiceSchema,
    label_column: str,
    classes: Sequence[Any],
) -> pd.DataFrame:
    """Feedback labels as an entity data frame: the logged inputs of each labelled request.

    Every row a request scored gets that request's label, timestamped when it was logged (the
    features the model saw are the ones valid then). The last label received wins. The log
    keeps each class as its text (``class_text``); older files may hold other spellings of a
    class (``True``, ``1.0``), which are read by the same rule feedback is read with when it
    arrives. Labels that name none of the model's classes are skipped.
    """
    inputs = [f.name for f in (*schema.join_keys, *schema.request_fields)]
    columns = [*inputs, EVENT_TIMESTAMP, label_column]
    labels_ds = _dataset(labels_dir(data_dir))
    log_ds = _dataset(predictions_dir(data_dir, model))
    if labels_ds is None or log_ds is None:
        return pd.DataFrame(columns=columns)
    labels = labels_ds.to_table(columns=["request_id", "label", "received_at"]).to_pandas()
    # Few distinct spellings however many labels: each is read once.
    read_as = {text: class_of(text, classes) for text in labels["label"].dropna().unique()}
    # Built as objects: a map() with misses would turn classes 0/1 into floats 0.0/1.0.
    labels["class"] = pd.Series(
        [read_as.get(text) for text in labels["label"]], index=labels.index, dtype=object
    )
    latest = (
        labels[labels["class"].notna()]
        .sort_values("received_at", kind="stable")
        .drop_duplicates("request_id", keep="last")
    )
    if latest.empty:
        return pd.DataFrame(columns=columns)
    wanted = pa.array(latest["request_id"].tolist(), type=pa.string())
    logged = log_ds.to_table(
        columns=["request_id", "logged_at", *inputs], filter=pc.field("request_id").isin(wanted)
    ).to_pandas()
    frame = logged.merge(latest[["request_id", "class"]], on="request_id", how="inner")
    frame[label_column] = pd.Series(frame["class"].tolist(), index=frame.index)  # own dtype
    frame = frame.rename(columns={"logged_at": EVENT_TIMESTAMP})
    result: pd.DataFrame = frame[columns].reset_index(drop=True)
    return result


def training_labels(
    source: Path | None,
    data_dir: Path,
    model: str,
    schema: ServiceSchema,
    label_column: str,
    classes: Sequence[Any],
) -> pd.DataFrame:
    """The model's label source (if any) and its feedback labels, as one entity data frame."""
    from jobs.train import read_labels

    frames = []
    if source is not None:
        frames.append(read_labels(source))
    feedback = feedback_labels(data_dir, model, schema, label_column, classes)
    if not feedback.empty:
        frames.append(feedback)
    if not frames:
        return pd.DataFrame()
    combined = pd.concat(frames, ignore_index=True, sort=False)
    combined[EVENT_TIMESTAMP] = pd.to_datetime(combined[EVENT_TIMESTAMP], utc=True)
    return combined
