"""Reads shared by the batches of one take: one read of their rows, each given back its own."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from features.online_features import OnlineFeatures
from scoring.serving.shared_read import SHARED_READS, SharedReads, read_features, rows_of


class Reader:
    """Answers f = x * 10 (stale where x is odd), noting each read's service, rows and time."""

    def __init__(self, fail: bool = False) -> None:
        self.reads: list[tuple[str, list[int], float | None]] = []
        self.fail = fail

    async def read(
        self,
        feature_service: str,
        rows: Sequence[Mapping[str, Any]],
        timeout_s: float | None = None,
    ) -> Mapping[str, Sequence[Any]]:
        xs = [int(row["x"]) for row in rows]
        self.reads.append((feature_service, xs, timeout_s))
        await asyncio.sleep(0)
        if self.fail:
            raise ConnectionError("store down")
        return OnlineFeatures(
            {"v__f": [x * 10 for x in xs]}, frozenset({"v__f"}), {"v__f": [x % 2 == 1 for x in xs]}
        )

    async def close(self) -> None:
        pass


def _rows(*xs: int) -> list[dict[str, Any]]:
    return [{"x": x} for x in xs]


async def _in_one_take(*reads: Any) -> list[Any]:
    """Runs ``reads`` as the batches of one take do: tasks started together, sharing reads."""
    token = SHARED_READS.set(SharedReads())
    try:
        return await asyncio.gather(*reads, return_exceptions=True)
    finally:
        SHARED_READS.reset(token)


def test_reads_of_one_service_in_one_take_are_one_read_and_each_gets_its_rows() -> None:
    reader = Reader()
    results = asyncio.run(
        _in_one_take(
            read_features(reader, "fs", _rows(1, 2), 0.5),
            read_features(reader, "fs", _rows(3), 2.0),
            read_features(reader, "other", _rows(4), None),
            read_features(reader, "fs", _rows(5, 6), 1.0),
        )
    )
    assert reader.reads == [("fs", [1, 2, 3, 5, 6], 2.0), ("other", [4], None)]
    assert [dict(r) for r in results] == [
        {"v__f": [10, 20]},
        {"v__f": [30]},
        {"v__f": [40]},
        {"v__f": [50, 60]},
    ]
    for result in results:
        assert isinstance(result, OnlineFeatures)
        assert result.stored == frozenset({"v__f"})
    assert [r.stale["v__f"] for r in results] == [[True, False], [True], [False], [True, False]]


def test_a_read_without_a_time_limit_keeps_the_shared_one_unlimited() -> None:
    reader = Reader()
    asyncio.run(
        _in_one_take(
            read_features(reader, "fs", _rows(1), 0.5), read_features(reader, "fs", _rows(2), None)
        )
    )
    assert reader.reads == [("fs", [1, 2], None)]


def test_outside_a_take_of_several_versions_each_read_is_its_own() -> None:
    async def main() -> None:
        await asyncio.gather(*(read_features(reader, "fs", _rows(x), 1.0) for x in (1, 2)))

    reader = Reader()
    asyncio.run(main())
    assert reader.reads == [("fs", [1], 1.0), ("fs", [2], 1.0)]


def test_a_lone_read_in_a_take_goes_to_the_reader_as_it_is() -> None:
    reader = Reader()
    [result] = asyncio.run(_in_one_take(read_features(reader, "fs", _rows(7), 0.3)))
    assert reader.reads == [("fs", [7], 0.3)]
    assert dict(result) == {"v__f": [70]}


def test_the_shared_reads_error_reaches_every_batch_of_it() -> None:
    reader = Reader(fail=True)
    results = asyncio.run(
        _in_one_take(
            read_features(reader, "fs", _rows(1), 1.0), read_features(reader, "fs", _rows(2), 1.0)
        )
    )
    assert len(reader.reads) == 1
    assert all(isinstance(r, ConnectionError) for r in results)


def test_cancelling_the_take_cancels_the_batches_waiting_for_the_shared_read() -> None:
    class Held(Reader):
        reading = asyncio.Event()

        async def read(
            self,
            feature_service: str,
            rows: Sequence[Mapping[str, Any]],
            timeout_s: float | None = None,
        ) -> Mapping[str, Sequence[Any]]:
            self.reads.append((feature_service, [int(r["x"]) for r in rows], timeout_s))
            self.reading.set()
            await asyncio.Event().wait()  # never answers
            raise AssertionError("unreachable")

    async def main() -> list[Any]:
        token = SHARED_READS.set(SharedReads())
        try:
            reads = [asyncio.ensure_future(read_features(reader, "fs", _rows(x), 1.0))
                     for x in (1, 2)]  # fmt: skip
        finally:
            SHARED_READS.reset(token)
        await asyncio.wait_for(reader.reading.wait(), 10)
        reads[0].cancel()  # the batch that reads for both
        return await asyncio.gather(*reads, return_exceptions=True)

    reader = Held()
    results = asyncio.run(main())
    assert all(isinstance(r, asyncio.CancelledError) for r in results)


def test_rows_of_plain_columns_is_a_plain_mapping() -> None:
    assert rows_of({"a": [1, 2, 3], "b": ["x", "y", "z"]}, 1, 3) == {"a": [2, 3], "b": ["y", "z"]}


@pytest.mark.parametrize("versions", [1, 2])
def test_the_batcher_shares_reads_only_in_a_take_of_several_versions(versions: int) -> None:
    import numpy as np

    from scoring.model.loaded import ScoringModel
    from scoring.serving.batching import Computed, MicroBatcher, RowsToScore

    seen: list[SharedReads | None] = []

    async def compute(model: ScoringModel, requests: Sequence[RowsToScore]) -> Computed:
        seen.append(SHARED_READS.get())
        n = sum(len(r.rows) for r in requests)
        return Computed({"f": [0] * n}, np.zeros(n), np.zeros((n, 1), dtype=bool))

    models = [object(), object()][:versions]

    async def main() -> None:
        batcher = MicroBatcher(compute, max_rows=100)
        batcher.start()
        await asyncio.gather(
            *(batcher.submit(m, RowsToScore("r", "champion", [{"x": 1}], 0.0)) for m in models)  # type: ignore[arg-type]
        )
        await batcher.stop()

    asyncio.run(main())
    if versions == 1:
        assert seen == [None]
    else:
        assert len(seen) == 2
        assert seen[0] is not None
        assert seen[0] is seen[1]
