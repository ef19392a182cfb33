"""Online feature fetch: our reader against Feast's get_online_features (sync and async)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import numpy as np
from feast import FeatureStore

from features.readers import FeatureReader

Rows = list[dict[str, Any]]


async def _timed(call: Callable[[], Awaitable[Any]], repeats: int) -> list[float]:
    await call()  # warm-up: connections, registry caches, plans
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        await call()
        times.append(time.perf_counter() - start)
    return times


def _stats(times: list[float]) -> dict[str, float]:
    ms = np.asarray(times) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


async def measure_feature_fetch(
    store: FeatureStore,
    reader: FeatureReader,
    feature_service: str,
    entity_rows_by_size: Mapping[int, Sequence[Mapping[str, Any]]],
    repeats: int,
) -> list[dict[str, Any]]:
    """Wall-time p50/p99 per batch size for ``reader`` and Feast's sync and async reads."""
    service = store.get_feature_service(feature_service)
    results = []
    for size, rows in sorted(entity_rows_by_size.items()):
        entity_rows: Rows = [dict(r) for r in rows]

        async def ours(rows: Rows = entity_rows) -> Any:
            return await reader.read(feature_service, rows)

        async def feast_sync(rows: Rows = entity_rows) -> Any:
            return store.get_online_features(
                features=service, entity_rows=rows, full_feature_names=True
            ).to_dict()

        async def feast_async(rows: Rows = entity_rows) -> Any:
            response = await store.get_online_features_async(
                features=service, entity_rows=rows, full_feature_names=True
            )
            return response.to_dict()

        row: dict[str, Any] = {"entities": size}
        for name, call in (
            ("ours", ours),
            ("feast_sync", feast_sync),
            ("feast_async", feast_async),
        ):
            for stat, value in _stats(await _timed(call, repeats)).items():
                row[f"{name}_{stat}"] = value
        row["ratio_sync_p50"] = row["feast_sync_p50_ms"] / row["ours_p50_ms"]
        row["ratio_async_p50"] = row["feast_async_p50_ms"] / row["ours_p50_ms"]
        results.append(row)
    return results
