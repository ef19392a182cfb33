"""The prediction log's rows, column by column, as a computation hands them over."""

from __future__ import annotations

import dataclasses
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from scoring.log.prediction_log import PredictionLog, _from_matrix
from scoring.log.writer import SPOOL_DIR
from scoring.model.loaded import ScoringModel, load_model
from scoring.model.registry import ModelRegistry
from scoring.serving.batching import Computed, RowsToScore
from scoring.settings import Settings


def _value(value_type: str, k: int) -> Any:
    """A value of a feature's Feast type, distinct for each ``k``."""
    if value_type == "STRING":
        return f"v{k}"
    if value_type == "BOOL":
        return k % 2 == 0
    if value_type in ("INT32", "INT64"):
        return k
    return k + 0.5


def _columns(model: ScoringModel, rows: int, first: int) -> dict[str, list[Any]]:
    return {
        f.name: [_value(f.value_type, first + 100 * j + i) for i in range(rows)]
        for j, f in enumerate(model.schema.features)
    }


def _computed(model: ScoringModel, rows: int, first: int, drop: str | None = None) -> Computed:
    columns = _columns(model, rows, first)
    if drop is not None:
        del columns[drop]  # as when Feast leaves out an on-demand output
    missing = np.zeros((rows, len(columns) + (drop is not None)), dtype=bool)
    missing[0, 1:3] = True
    return Computed(columns=columns, scores=np.linspace(0.1, 0.9, rows), missing=missing)


def _rows(n: int, start: int) -> list[dict[str, Any]]:
    return [{"customer_id": start + i, "merchant_id": 7, "amount": 10.5 + i} for i in range(n)]


def test_rows_of_micro_batches_and_single_requests(own_settings: Settings) -> None:
    model = load_model(ModelRegistry(own_settings.models_dir), "fraud", 1)
    names = model.schema.feature_names
    log = PredictionLog(own_settings)  # not started: flush() writes on this thread
    started = time.perf_counter() - 0.005
    a, b = (
        RowsToScore("a", "champion", _rows(1, 1), started),
        RowsToScore("b", "champion", _rows(2, 2), started),
    )
    one, two = _columns(model, 1, 0), _columns(model, 2, 1000)
    batch = Computed(
        columns={name: one[name] + two[name] for name in names},
        scores=np.array([0.2, 0.6, 0.95]),
        missing=np.zeros((3, len(names)), dtype=bool),
    )
    before = datetime.now(UTC)
    matrix = model.encode(batch.columns, 3)[0]
    assert log.append(model, [a, b], [*a.rows, *b.rows], batch, matrix, time.perf_counter())
    c = RowsToScore("c", "champion", _rows(2, 9), started)
    computed = _computed(model, 2, 5000, drop=names[-1])
    matrix = model.encode(computed.columns, 2)[0]
    assert log.append(model, [c], c.rows, computed, matrix, started)
    log.writer.flush()
    after = datetime.now(UTC)

    table = ds.dataset(log.root, format="parquet", partitioning="hive").to_table()
    rows = sorted(table.to_pylist(), key=lambda r: (r["request_id"], r["customer_id"]))
    assert [r["request_id"] for r in rows] == ["a", "b", "b", "c", "c"]
    assert [r["customer_id"] for r in rows] == [1, 2, 3, 9, 10]
    assert [r["amount"] for r in rows] == [10.5, 10.5, 11.5, 10.5, 11.5]
    assert {r["route"] for r in rows} == {"champion"}
    assert {r["version"] for r in rows} == {1}
    assert {r["model"] for r in rows} == {"fraud"}
    assert all(before <= r["logged_at"] <= after for r in rows)
    days = {before.date().isoformat(), after.date().isoformat()}
    assert {str(r["date"]) for r in rows} <= days
    assert [r["score"] for r in rows[:3]] == [0.2, 0.6, 0.95]
    threshold = model.manifest.postprocess.threshold
    labels = model.manifest.postprocess.labels
    assert [r["label"] for r in rows[:3]] == [
        str(labels[1] if s >= threshold else labels[0]) for s in (0.2, 0.6, 0.95)
    ]
    assert [r["missing_count"] for r in rows] == [0, 0, 0, 2, 0]
    assert all(r["latency_ms"] >= 5.0 for r in rows[:3])
    assert rows[3]["latency_ms"] == 0.0  # scored the moment it started
    for j, feature in enumerate(model.schema.features):
        expected = [_value(feature.value_type, k + 100 * j) for k in (0, 1000, 1001, 5000, 5001)]
        if feature.name == names[-1]:
            expected[3:] = [None, None]
        logged = [r[feature.name] for r in rows]
        # float32 features come back widened from 32 bits
        wanted = pytest.approx(expected) if feature.value_type == "FLOAT" else expected
        assert logged == wanted, feature.name
    counters = log.close()
    assert (counters.rows_written, counters.rows_dropped) == (5, 0)


def test_a_batch_of_single_row_requests_keeps_each_request_on_its_row(
    own_settings: Settings,
) -> None:
    model = load_model(ModelRegistry(own_settings.models_dir), "fraud", 1)
    log = PredictionLog(own_settings)
    now = time.perf_counter()
    requests = [
        RowsToScore(f"r{i}", route, _rows(1, 10 + i), now - delay)
        for i, (route, delay) in enumerate([("champion", 0.03), ("canary", 0.02), ("shadow", 0.01)])
    ]
    computed = _computed(model, 3, 0)
    matrix = model.encode(computed.columns, 3)[0]
    rows = [row for request in requests for row in request.rows]
    assert log.append(model, requests, rows, computed, matrix, now)
    log.writer.flush()

    table = ds.dataset(log.root, format="parquet", partitioning="hive").to_table()
    logged = sorted(table.to_pylist(), key=lambda r: r["request_id"])
    assert [(r["request_id"], r["route"], r["customer_id"]) for r in logged] == [
        ("r0", "champion", 10),
        ("r1", "canary", 11),
        ("r2", "shadow", 12),
    ]
    assert [r["score"] for r in logged] == pytest.approx([0.1, 0.5, 0.9])
    assert [round(r["latency_ms"]) for r in logged] == [30, 20, 10]


def test_logged_features_are_the_raw_values_at_the_edges(own_settings: Settings) -> None:
    """Numbers and flags are logged from the model's matrix: nothing may change on the way."""
    model = load_model(ModelRegistry(own_settings.models_dir), "fraud", 1)
    by_type = {f.value_type: f.name for f in model.schema.features}
    columns = _columns(model, 4, 0)
    integer, number, flag, text = (
        by_type["INT64"],
        by_type["DOUBLE"],
        by_type["BOOL"],
        by_type["STRING"],
    )
    columns[integer] = [2**53 + 1, None, -(2**62), 3]  # beyond float64's whole numbers
    columns[number] = [None, float("nan"), -0.0, 1e300]
    columns[flag] = [None, True, False, True]
    columns[text] = [None, "", "é", "x"]
    missing = np.zeros((4, len(columns)), dtype=bool)
    computed = Computed(columns=columns, scores=np.full(4, 0.5), missing=missing)
    matrix = model.encode(columns, 4)[0]
    small = {**columns, integer: [None, 0, -(2**53), 2**53]}  # the edge float64 still holds
    log = PredictionLog(own_settings)
    request = RowsToScore("big", "champion", _rows(4, 1), time.perf_counter())
    assert log.append(model, [request], request.rows, computed, matrix, time.perf_counter())
    request = RowsToScore("small", "champion", _rows(4, 1), time.perf_counter())
    small_computed = Computed(columns=small, scores=np.full(4, 0.5), missing=missing)
    small_matrix = model.encode(small, 4)[0]
    assert log.append(
        model, [request], request.rows, small_computed, small_matrix, time.perf_counter()
    )
    log.writer.flush()

    table = ds.dataset(log.root, format="parquet", partitioning="hive").to_table()
    rows = sorted(table.to_pylist(), key=lambda r: (r["request_id"], r["customer_id"]))
    assert [r[integer] for r in rows] == [2**53 + 1, None, -(2**62), 3, None, 0, -(2**53), 2**53]
    assert [r[number] for r in rows][:4] == [None, None, -0.0, 1e300]
    assert [r[flag] for r in rows][:4] == [None, True, False, True]
    assert [r[text] for r in rows][:4] == [None, "", "é", "x"]
    assert log.close().rows_dropped == 0


@pytest.mark.parametrize(
    ("arrow_type", "column", "expected"),
    [
        (pa.float32(), [0.1, np.nan], [np.float32(0.1).item(), None]),
        (pa.int32(), [-(2.0**31), 2.0**31 - 1, np.nan], [-(2**31), 2**31 - 1, None]),
        (pa.int32(), [2.0**31], "raw"),  # out of int32's range: the raw value decides
        (pa.int64(), [1.5], "raw"),  # not a whole number
        (pa.int64(), [2.0**53 + 2], "raw"),
        (pa.bool_(), [1.0, 0.0, np.nan], [True, False, None]),
    ],
)
def test_a_column_comes_from_the_matrix_only_when_it_holds_the_values(
    arrow_type: pa.DataType, column: list[float], expected: Any
) -> None:
    array = _from_matrix(np.array(column, dtype=np.float64), arrow_type)
    if expected == "raw":
        assert array is None
    else:
        assert array is not None
        assert array.type == arrow_type
        assert array.to_pylist() == expected


def test_rows_recovered_from_a_dead_workers_spool_are_the_rows_it_would_have_written(
    own_settings: Settings, tmp_path: Path
) -> None:
    model = load_model(ModelRegistry(own_settings.models_dir), "fraud", 1)
    log = PredictionLog(own_settings)  # not started: nothing is written until close()
    now = time.perf_counter()
    for k in range(4):
        request = RowsToScore(f"r{k}", "champion", _rows(1 + k % 2, 10 * k), now - 0.01)
        computed = _computed(model, len(request.rows), 100 * k)
        if k == 1:  # a stale value (it is missing too)
            computed = dataclasses.replace(computed, stale=computed.missing.copy())
        if k == 3:  # a value the spool's codec cannot hold: those rows are spooled as Arrow
            name = model.schema.feature_names[0]
            computed.columns[name][0] = np.int64(computed.columns[name][0])  # type: ignore[index]
        matrix = model.encode(computed.columns, len(request.rows))[0]
        assert log.append(model, [request], request.rows, computed, matrix, now)
    spool = log.root / SPOOL_DIR
    left = tmp_path / "left-by-a-dead-worker"
    shutil.copytree(spool, left)  # the files a worker killed now leaves, its lock let go
    assert log.close().rows_written == 6
    written = read_sorted(log.root)

    shutil.rmtree(log.root)
    log.root.mkdir()
    left.rename(spool)
    heir = PredictionLog(own_settings)
    heir.start()
    counters = heir.close()
    assert (counters.rows_recovered, counters.rows_written) == (6, 6)
    assert read_sorted(log.root).equals(written)
    assert written.column("stale_count").to_pylist() == [0, 2, 0, 0, 0, 0]


def read_sorted(root: Path) -> pa.Table:
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    return table.sort_by([("request_id", "ascending"), ("customer_id", "ascending")])
