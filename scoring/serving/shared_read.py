"""One online read for the batches of a micro-batcher's take that read one feature service.

A champion and its canary (or its shadow) mostly read the same feature service. When the
micro-batcher computes a take of several versions at once, each version's batch would read
the store and run the on-demand views for its own rows: the fixed cost of a small batch,
paid twice, so that a canary at 0.1 cost about a fifth of single-entity throughput. While it
computes such a take, the batcher sets :data:`SHARED_READS` (its batches' tasks inherit it);
their reads of one feature service, issued in one turn of the event loop, become one read of
all their rows, and each batch gets its own rows back. Anywhere else the variable is unset
and :func:`read_features` is the reader's own read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from features.online_features import OnlineFeatures
from features.readers import FeatureReader

Columns = Mapping[str, Sequence[Any]]

SHARED_READS: ContextVar[SharedReads | None] = ContextVar("shared_reads", default=None)
"""The reads shared by the batches of the take being computed; None outside such a take."""


async def read_features(
    reader: FeatureReader,
    feature_service: str,
    rows: Sequence[Mapping[str, Any]],
    timeout_s: float | None,
) -> Columns:
    """``reader``'s columns for ``rows``, read together with the take's other batches if any."""
    shared = SHARED_READS.get()
    if shared is None:
        return await reader.read(feature_service, rows, timeout_s)
    return await shared.read(reader, feature_service, rows, timeout_s)


@dataclass
class _Joined:
    rows: Sequence[Mapping[str, Any]]
    timeout_s: float | None
    future: asyncio.Future[Columns] = field(repr=False)


class SharedReads:
    """Reads of one feature service by the batches of one take, made one read."""

    def __init__(self) -> None:
        self._joining: dict[tuple[int, str], list[_Joined]] = {}
        self.reads = 0
        """Reads made for the take, each for one or more batches."""

    async def read(
        self,
        reader: FeatureReader,
        feature_service: str,
        rows: Sequence[Mapping[str, Any]],
        timeout_s: float | None,
    ) -> Columns:
        """The columns of ``rows``: the first batch to ask reads for those who join it."""
        key = (id(reader), feature_service)
        joining = self._joining.get(key)
        if joining is not None:  # another batch of the take is about to read this service
            future: asyncio.Future[Columns] = asyncio.get_running_loop().create_future()
            joining.append(_Joined(rows, timeout_s, future))
            return await future
        joining = self._joining[key] = []
        try:
            await asyncio.sleep(0)  # the take's other batches start, and join this read
        finally:
            del self._joining[key]
        self.reads += 1
        if not joining:
            return await reader.read(feature_service, rows, timeout_s)
        together = [*rows, *(row for joined in joining for row in joined.rows)]
        # The most patient batch's time, as within a batch; the others have their deadlines.
        timeouts = [timeout_s, *(joined.timeout_s for joined in joining)]
        longest = None if None in timeouts else max(t for t in timeouts if t is not None)
        try:
            columns = await reader.read(feature_service, together, longest)
        except Exception as exc:  # every batch of the read gets its error
            for joined in joining:
                if not joined.future.done():
                    joined.future.set_exception(exc)
            raise
        except BaseException:  # cancelled: the take is being cancelled, its batches with it
            for joined in joining:
                joined.future.cancel()
            raise
        start = len(rows)
        for joined in joining:
            stop = start + len(joined.rows)
            if not joined.future.done():
                joined.future.set_result(rows_of(columns, start, stop))
            start = stop
        return rows_of(columns, 0, len(rows))


def rows_of(columns: Columns, start: int, stop: int) -> Columns:
    """The rows ``start:stop`` of every column, keeping what an online read says of them."""
    part = {name: values[start:stop] for name, values in columns.items()}
    if not isinstance(columns, OnlineFeatures):
        return part
    stale = {name: flags[start:stop] for name, flags in columns.stale.items()}
    return OnlineFeatures(part, columns.stored, stale)
