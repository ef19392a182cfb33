"""What counts as our reader returning the same values as Feast."""

from __future__ import annotations

from typing import Any

from bench.fetch_parity import column_differences

FEAST: dict[str, list[Any]] = {
    "customer_id": [1, 2],
    "amount": [3.0, 4.0],
    "view__count": [5, None],
    "view__ratio": [float("nan"), 0.5],
    "view__country": ["US", None],
}


def test_equal_values_of_equal_types_are_identical() -> None:
    ours = {k: list(v) for k, v in FEAST.items() if k not in ("customer_id", "amount")}
    assert column_differences(ours, FEAST, ["customer_id", "amount"]) == []


def test_a_different_type_value_or_column_set_is_reported() -> None:
    ours: dict[str, list[Any]] = {
        "view__count": [5.0, None],  # float where Feast has int
        "view__ratio": [float("nan"), 0.25],
        "view__extra": [1, 2],
    }
    problems = column_differences(ours, FEAST, ["customer_id", "amount"])
    assert any("only ours ['view__extra'], only Feast ['view__country']" in p for p in problems)
    assert any(p.startswith("view__count: 1 rows differ") for p in problems)
    assert any(p.startswith("view__ratio: 1 rows differ") for p in problems)
