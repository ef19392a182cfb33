"""Feature fetch figures: our reader's values checked against Feast's, then both timed."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from typing import Any

from feast import FeatureStore

from bench.feature_fetch import measure_feature_fetch
from features.readers import make_online_reader

Columns = Mapping[str, Sequence[Any]]


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, float) and isinstance(theirs, float) and math.isnan(ours):
        return math.isnan(theirs)
    return type(ours) is type(theirs) and bool(ours == theirs)


def column_differences(ours: Columns, theirs: Columns, inputs: Sequence[str]) -> list[str]:
    """How ``ours`` differs from Feast's ``to_dict()`` (minus the request's own columns).

    Values must be equal and of the same Python type (NaN equals NaN); an empty list means
    identical. At most a few differences per column are described.
    """
    expected = {name: values for name, values in theirs.items() if name not in inputs}
    problems: list[str] = []
    if set(ours) != set(expected):
        problems.append(
            f"columns differ: only ours {sorted(set(ours) - set(expected))}, "
            f"only Feast {sorted(set(expected) - set(ours))}"
        )
    for name in sorted(set(ours) & set(expected)):
        got, want = list(ours[name]), list(expected[name])
        if len(got) != len(want):
            problems.append(f"{name}: {len(got)} values, Feast has {len(want)}")
            continue
        wrong = [(i, got[i], want[i]) for i in range(len(want)) if not _same(got[i], want[i])]
        if wrong:
            problems.append(f"{name}: {len(wrong)} rows differ, (row, ours, feast) {wrong[:3]}")
    return problems


async def _fetch_bench(
    store: FeatureStore,
    feature_service: str,
    rows_by_size: Mapping[int, Sequence[Mapping[str, Any]]],
    repeats: int,
    timeout_s: float,
) -> dict[str, Any]:
    # Values are compared with Feast's, which serves them however old: with the ttl not
    # enforced. The timed reader enforces it, as the service does by default.
    parity_reader = make_online_reader(store, timeout_s, enforce_ttl=False)
    reader = make_online_reader(store, timeout_s)
    try:
        service = store.get_feature_service(feature_service)
        problems: list[str] = []
        checked = 0
        for size, rows in sorted(rows_by_size.items()):
            entity_rows = [dict(r) for r in rows]
            ours = await parity_reader.read(feature_service, entity_rows)
            theirs = store.get_online_features(
                features=service, entity_rows=entity_rows, full_feature_names=True
            ).to_dict()
            inputs = sorted({key for row in entity_rows for key in row})
            problems += [f"{size} entities: {p}" for p in column_differences(ours, theirs, inputs)]
            checked += size
        sizes = await measure_feature_fetch(store, reader, feature_service, rows_by_size, repeats)
    finally:
        await parity_reader.close()
        await reader.close()
    return {
        "reader": type(reader).__name__,
        "parity": {"identical": not problems, "rows_checked": checked, "differences": problems},
        "sizes": sizes,
    }


def run_fetch_bench(
    store: FeatureStore,
    feature_service: str,
    rows_by_size: Mapping[int, Sequence[Mapping[str, Any]]],
    repeats: int,
    timeout_s: float = 5.0,
) -> dict[str, Any]:
    """Check value parity at every size, then time our reader and Feast's sync and async reads."""
    return asyncio.run(_fetch_bench(store, feature_service, rows_by_size, repeats, timeout_s))
