"""Pairing a shadow's log rows with the rows that answered the same requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from drift.shadow_log import NoShadowRows, occurrence, read_shadow_pairs

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def row(
    request_id: str, route: str, version: int, key: int, score: float, seconds: float = 0
) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "logged_at": T0 + timedelta(seconds=seconds),
        "version": version,
        "route": route,
        "customer_id": key,
        "score": score,
        "label": "1" if score >= 0.5 else "0",
        "missing_count": 0,
        "stale_count": 0,
        "latency_ms": 2.0 if route != "shadow" else 5.0,
    }


def write_log(root: Path, rows: list[dict[str, Any]], name: str = "part.parquet") -> Path:
    folder = root / "model=m" / f"date={T0.date().isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / name)
    return root


def test_rows_pair_on_request_and_entity_even_when_a_request_repeats_one(tmp_path: Path) -> None:
    rows = [
        row("a", "champion", 1, 7, 0.1), row("a", "champion", 1, 8, 0.2),
        row("a", "champion", 1, 7, 0.3),  # entity 7 twice in request a
        row("b", "stream", 1, 7, 0.6),
        row("a", "shadow", 2, 7, 0.15, 1), row("a", "shadow", 2, 8, 0.25, 1),
        row("a", "shadow", 2, 7, 0.35, 1), row("b", "shadow", 2, 7, 0.65, 1),
    ]  # fmt: skip
    pairs = read_shadow_pairs(write_log(tmp_path, rows), ["customer_id"], model="m")
    assert (pairs.champion_version, pairs.shadow_version, pairs.rows) == (1, 2, 4)
    matched = sorted(zip(pairs.champion_scores, pairs.shadow_scores, strict=True))
    assert np.allclose(matched, [(0.1, 0.15), (0.2, 0.25), (0.3, 0.35), (0.6, 0.65)])
    assert pairs.routes == {"champion": 3, "stream": 1}
    assert pairs.unpaired_shadow == 0
    assert pairs.unpaired_answers == 0
    assert sorted(pairs.champion_latency_ms) == [2.0, 2.0]  # one per request
    assert sorted(pairs.shadow_latency_ms) == [5.0, 5.0]


def test_unpaired_rows_are_counted_and_canary_rows_left_out(tmp_path: Path) -> None:
    rows = [
        row("early", "champion", 1, 1, 0.5, -60),  # before any shadow: not counted
        row("a", "champion", 1, 1, 0.2), row("a", "canary", 3, 2, 0.9),
        row("a", "shadow", 2, 1, 0.3, 1), row("a", "shadow", 2, 2, 0.8, 1),  # 2: canary's
        row("b", "champion", 1, 1, 0.4, 2),  # its shadow was dropped
        row("c", "shadow", 2, 5, 0.7, 3),  # its answer is not in the log
    ]  # fmt: skip
    pairs = read_shadow_pairs(write_log(tmp_path, rows), ["customer_id"], model="m")
    assert pairs.rows == 1
    assert pairs.shadow_rows == 3
    assert pairs.unpaired_shadow == 2
    assert (pairs.answer_rows, pairs.unpaired_answers) == (2, 1)
    assert pairs.canary_rows == 1


def test_figures_are_of_the_aliases_pair_or_else_the_latest(tmp_path: Path) -> None:
    rows = [
        row("a", "champion", 1, 1, 0.2), row("a", "shadow", 2, 1, 0.3, 1),
        row("b", "champion", 1, 1, 0.2, 10), row("b", "shadow", 3, 1, 0.4, 11),
        row("c", "champion", 1, 1, 0.2, 12), row("c", "shadow", 3, 1, 0.4, 13),
    ]  # fmt: skip
    root = write_log(tmp_path, rows)
    latest = read_shadow_pairs(root, ["customer_id"], model="m")
    assert (latest.shadow_version, latest.rows) == (3, 2)
    assert [(p.champion, p.shadow, p.rows) for p in latest.version_pairs] == [(1, 3, 2), (1, 2, 1)]
    named = read_shadow_pairs(root, ["customer_id"], champion_version=1, shadow_version=2)
    assert (named.shadow_version, named.rows, named.notes) == (2, 1, [])
    gone = read_shadow_pairs(root, ["customer_id"], champion_version=1, shadow_version=9)
    assert gone.shadow_version == 3
    assert "v1 and v3" in gone.notes[0]


def test_the_window_bounds_the_rows(tmp_path: Path) -> None:
    rows = [
        row("a", "champion", 1, 1, 0.2), row("a", "shadow", 2, 1, 0.3, 1),
        row("b", "champion", 1, 1, 0.2, 100), row("b", "shadow", 2, 1, 0.4, 101),
    ]  # fmt: skip
    root = write_log(tmp_path, rows)
    pairs = read_shadow_pairs(root, ["customer_id"], start=T0 + timedelta(seconds=50))
    assert pairs.request_ids == ["b"]


def test_no_shadow_rows_is_a_clear_error(tmp_path: Path) -> None:
    root = write_log(tmp_path, [row("a", "champion", 1, 1, 0.2)])
    with pytest.raises(NoShadowRows, match="no shadow rows"):
        read_shadow_pairs(root, ["customer_id"], model="m")
    lone = write_log(tmp_path / "lone", [row("a", "shadow", 2, 1, 0.2)])
    with pytest.raises(NoShadowRows, match="no row that answered"):
        read_shadow_pairs(lone, ["customer_id"], model="m")


def test_occurrence_numbers_repeats_in_order() -> None:
    table = pa.table({"k": ["x", "y", "x", "x", "y"]})
    assert occurrence(table, ["k"]).tolist() == [0, 0, 1, 2, 1]
    assert occurrence(pa.table({"k": pa.array([], pa.string())}), ["k"]).tolist() == []
