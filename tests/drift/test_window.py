"""Reading the log: batches, sources, time/model/version filters, temp files, labels."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from drift.counts import CategoricalCounts, NumericCounts, WindowCounts
from drift.window import PredictionLogError, count_batch, count_window, read_labels
from tests.drift.conftest import DAY0, KINDS, MODEL, VERSION, Synthetic


def _same(a: WindowCounts, b: WindowCounts) -> bool:
    if a.rows != b.rows or not np.array_equal(a.score.counts, b.score.counts):
        return False
    for name, left in a.features.items():
        right = b.features[name]
        if isinstance(left, NumericCounts) and isinstance(right, NumericCounts):
            same = np.array_equal(left.counts, right.counts) and left.missing == right.missing
        else:
            assert isinstance(left, CategoricalCounts)
            assert isinstance(right, CategoricalCounts)
            same = np.array_equal(left.counts, right.counts) and left.unseen == right.unseen
        if not same:
            return False
    return True


def test_batches_count_the_same_as_the_whole_table(
    synthetic: Synthetic, write_log: Callable[..., pa.Table], tmp_path: Path
) -> None:
    table = write_log(tmp_path, 20_000, seed=11, shift=True)
    root = tmp_path / "logs" / "predictions"
    small = count_window(root, synthetic.reference, KINDS, model=MODEL, batch_size=997)
    large = count_window(root, synthetic.reference, KINDS, model=MODEL, batch_size=1 << 20)
    whole = WindowCounts.on(synthetic.reference)
    count_batch(whole, table, KINDS)
    assert small.rows == 20_000
    assert _same(small, large)
    assert _same(small, whole)
    # Exact values kept while they fit, none once the window outgrew the buffer.
    assert small.score.values() is None
    tiny = count_window(root, synthetic.reference, KINDS, value_capacity=50_000)
    assert tiny.score.values() is not None


def test_time_window_counts_only_rows_in_range(
    synthetic: Synthetic, write_log: Callable[..., pa.Table], tmp_path: Path
) -> None:
    table = write_log(tmp_path, 20_000, seed=12)
    start, end = DAY0 + timedelta(days=1, hours=6), DAY0 + timedelta(days=2, hours=3)
    stamps = table.column("logged_at")
    in_range = pc.and_(
        pc.greater_equal(stamps, pa.scalar(start, stamps.type)),
        pc.less(stamps, pa.scalar(end, stamps.type)),
    )
    expected = table.filter(in_range)
    counts = count_window(
        tmp_path / "logs" / "predictions",
        synthetic.reference,
        KINDS,
        model=MODEL,
        start=start,
        end=end,
    )
    assert counts.rows == expected.num_rows > 0
    whole = WindowCounts.on(synthetic.reference)
    count_batch(whole, expected, KINDS)
    assert _same(counts, whole)
    assert counts.first_logged_at is not None
    assert counts.first_logged_at >= start
    assert counts.last_logged_at is not None
    assert counts.last_logged_at < end


def test_sources_filters_and_temp_files(
    synthetic: Synthetic, write_log: Callable[..., pa.Table], tmp_path: Path
) -> None:
    table = write_log(tmp_path, 8_000, seed=13, days=2)
    root = tmp_path / "logs" / "predictions"
    day_dir = root / f"model={MODEL}" / "date=2024-05-01"
    # A file being written (dot prefix), another model, and a shadow version are not counted.
    pq.write_table(table.slice(0, 100), day_dir / ".part-9.parquet.tmp")
    other = root / "model=other" / "date=2024-05-01"
    other.mkdir(parents=True)
    pq.write_table(table.slice(0, 100), other / "part-0.parquet")
    shadow = table.slice(0, 50).set_column(
        2, "version", pa.array(np.full(50, VERSION + 1, dtype=np.int32))
    )
    pq.write_table(shadow, day_dir / "part-shadow.parquet")

    counts = count_window(root, synthetic.reference, KINDS, model=MODEL, version=VERSION)
    assert counts.rows == 8_000
    model_dir = count_window(root / f"model={MODEL}", synthetic.reference, version=VERSION)
    assert model_dir.rows == 8_000
    one_day = count_window(day_dir, synthetic.reference, KINDS, version=VERSION)
    single = count_window(day_dir / "part-0.parquet", synthetic.reference, KINDS)
    assert 0 < single.rows < one_day.rows < 8_000
    with pytest.raises(PredictionLogError):
        count_window(tmp_path / "nowhere", synthetic.reference)


def test_labels_last_received_wins(tmp_path: Path) -> None:
    when = [datetime(2024, 5, 2, h, tzinfo=UTC) for h in (1, 3, 2, 1)]
    day = tmp_path / "date=2024-05-02"
    day.mkdir()
    pq.write_table(
        pa.table(
            {
                "request_id": ["a", "a", "a", "b"],
                "label": pa.array([1, 0, 1, 1], pa.int64()),
                "received_at": pa.array(when, pa.timestamp("us", tz="UTC")),
            }
        ),
        day / "part-0.parquet",
    )
    labels, truncated = read_labels(tmp_path, positive_label=1)
    assert labels == {"a": 0, "b": 1}  # a's label received at 03:00 is the last
    assert not truncated
    _, truncated = read_labels(tmp_path, positive_label=1, max_labels=2)
    assert truncated
    assert read_labels(tmp_path, 1, since=datetime(2024, 5, 3, tzinfo=UTC)) == ({}, False)


def test_string_labels_compare_with_the_positive_class(tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"request_id": ["x", "y", "z"], "label": ["fraud", "ok", None]}),
        tmp_path / "labels.parquet",
    )
    labels, _ = read_labels(tmp_path, positive_label="fraud")
    assert labels == {"x": 1, "y": 0}
