"""Adaptive micro-batching: concurrent small requests for a model share one read and predict.

Under load most of a single-entity request's cost is fixed per call (the Redis round trip,
Feast's on-demand transforms, LightGBM's predict set-up), not per row. Requests queue while
a batch is in flight; the next batch takes everything queued, so batches grow with load and
an idle service still answers a lone request at once, without waiting for company. The same
idea as MLServer's and BentoML's adaptive batching, minus the timer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scoring.encoding import BoolArray, FloatArray
from scoring.model import ScoringModel

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class RowsToScore:
    """One request's rows on their way to a computation, and what the log keeps of it."""

    request_id: str
    route: str
    rows: Rows
    started: float
    """``time.perf_counter()`` when the request reached the service."""


@dataclass(frozen=True)
class Computed:
    """The read and scored rows of one request (or of a whole batch)."""

    columns: Mapping[str, Sequence[Any]]
    scores: FloatArray
    missing: BoolArray

    def slice(self, start: int, stop: int) -> Computed:
        """The rows ``start:stop`` of a batch, for the request that sent them."""
        return Computed(
            columns={name: values[start:stop] for name, values in self.columns.items()},
            scores=self.scores[start:stop],
            missing=self.missing[start:stop],
        )


Compute = Callable[[ScoringModel, Sequence[RowsToScore]], Awaitable[Computed]]
"""Reads, scores (and logs) the rows of several requests for one model version at once."""


@dataclass
class _Pending:
    model: ScoringModel
    request: RowsToScore
    future: asyncio.Future[Computed]

    @property
    def rows(self) -> Rows:
        return self.request.rows


class MicroBatcher:
    """Merges queued requests of the same model version into one computation."""

    def __init__(self, compute: Compute, max_rows: int) -> None:
        self._compute = compute
        self._max_rows = max_rows
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.requests = 0

    async def submit(self, model: ScoringModel, request: RowsToScore) -> Computed:
        """Queue the request's rows and wait for their share of a batch."""
        future: asyncio.Future[Computed] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(model, request, future))
        return await future

    def start(self) -> None:
        """Start the batching loop."""
        self._task = asyncio.create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        """Stop the loop; requests still queued get an error rather than hang."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(RuntimeError("the service is shutting down"))

    def _take(self, first: _Pending) -> tuple[list[_Pending], list[_Pending]]:
        """``first`` plus queued requests of the same version, up to the row limit."""
        batch, others = [first], []
        rows = len(first.rows)
        while not self._queue.empty() and rows < self._max_rows:
            pending = self._queue.get_nowait()
            if pending.model is first.model and rows + len(pending.rows) <= self._max_rows:
                batch.append(pending)
                rows += len(pending.rows)
            else:
                others.append(pending)
        return batch, others

    async def _run(self) -> None:
        carried: list[_Pending] = []
        while True:
            first = carried.pop(0) if carried else await self._queue.get()
            batch, others = self._take(first)
            carried.extend(others)
            live = [p for p in batch if not p.future.done()]  # a client may have gone
            if not live:
                continue
            try:
                computed = await self._compute(first.model, [p.request for p in live])
            except Exception as exc:  # every request of the batch gets the error
                for pending in live:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            self.batches += 1
            self.requests += len(live)
            start = 0
            for pending in live:
                stop = start + len(pending.rows)
                if not pending.future.done():
                    pending.future.set_result(computed.slice(start, stop))
                start = stop
