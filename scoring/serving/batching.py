"""Adaptive micro-batching: concurrent small requests for a model share one read and predict.

Under load most of a single-entity request's cost is fixed per call (the Redis round trip,
Feast's on-demand transforms, LightGBM's predict set-up), not per row. Requests queue while
a take is in flight; the next take has everything queued, so batches grow with load and
an idle service still answers a lone request at once, without waiting for company. The same
idea as MLServer's and BentoML's adaptive batching, minus the timer.

A take holds one batch per model version, each up to the row limit: with a canary, the
champion's and the canary's requests are computed at once, not one version after the other,
which made every batch smaller and cost a model with a canary about half of its
single-entity throughput; and the batches that read one feature service share one read
(:mod:`scoring.serving.shared_read`). A shadow's requests make a batch of their own that
runs beside the answered ones, never ahead of them. The queue is taken in order until a
request would take its version's batch past the limit: it opens the next take, which waits
for every batch of this one. A take of one version computes in the loop's own task, as it
always did; only a take of several starts a task per batch. Each batch's error goes to its
own requests only.

Each request carries its deadline (its arrival plus the service's time budget). A request
whose deadline passes while it is queued is failed without being computed. A batch's read is
given the time left of its most patient member: members that arrived later should not fail
early because an older one is about to give up, and a read that succeeds in that time answers
every member still waiting. The others are failed at their own deadlines while it runs, by one
timer per take (none when every batch is one request, whose read ends at its deadline anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scoring.errors import DeadlineExceeded
from scoring.logging_config import REQUEST_ID
from scoring.model.encoding import BoolArray, FloatArray
from scoring.model.loaded import ScoringModel
from scoring.serving.shared_read import SHARED_READS, SharedReads

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class RowsToScore:
    """One request's rows on their way to a computation, and what the log keeps of it."""

    request_id: str
    route: str
    rows: Rows
    started: float
    """``time.perf_counter()`` when the request reached the service."""
    deadline: float = math.inf
    """``time.perf_counter()`` past which the request is answered 503, computed or not."""


@dataclass(frozen=True)
class Computed:
    """The read and scored rows of one request (or of a whole batch)."""

    columns: Mapping[str, Sequence[Any]]
    scores: FloatArray
    missing: BoolArray
    stale: BoolArray | None = None
    """Rows x features: values too old to serve (also in ``missing``); None when none were."""
    stored: BoolArray | None = None
    """Per feature: read from the online store (not computed on demand); None if unknown."""
    missing_names: Sequence[list[str]] | None = None
    """Per row, the names of its missing features, in feature order; None when none is."""
    stale_names: Sequence[list[str]] | None = None
    """Per row, the names of its stale features, in feature order; None when none is."""

    def slice(self, start: int, stop: int) -> Computed:
        """The rows ``start:stop`` of a batch, for the request that sent them."""
        return Computed(
            columns=ColumnsSlice(self.columns, start, stop),
            scores=self.scores[start:stop],
            missing=self.missing[start:stop],
            stale=None if self.stale is None else self.stale[start:stop],
            stored=self.stored,
            missing_names=_rows(self.missing_names, start, stop),
            stale_names=_rows(self.stale_names, start, stop),
        )


def _rows(names: Sequence[list[str]] | None, start: int, stop: int) -> Sequence[list[str]] | None:
    if names is None:
        return None
    part = names[start:stop]
    return part if any(part) else None


class ColumnsSlice(Mapping[str, Sequence[Any]]):
    """The rows ``start:stop`` of every column, sliced when one is asked for.

    A request's share of a batch rarely needs its columns (only ``include_features`` does):
    slicing each of them for every request of every batch would be work thrown away.
    """

    __slots__ = ("_columns", "_start", "_stop")

    def __init__(self, columns: Mapping[str, Sequence[Any]], start: int, stop: int) -> None:
        self._columns = columns
        self._start = start
        self._stop = stop

    def __getitem__(self, name: str) -> Sequence[Any]:
        return self._columns[name][self._start : self._stop]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)


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


STOP_GRACE_S = 10.0
"""At stop, how long a batch already being computed may take to finish and answer."""


class MicroBatcher:
    """Merges queued requests of the same model version into one computation."""

    def __init__(self, compute: Compute, max_rows: int) -> None:
        self._compute = compute
        self._max_rows = max_rows
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Taken from the queue by the loop, so stop() must find them here: the request that
        # opens the next take (its version's batch was full), and the take being computed.
        self._carried: list[_Pending] = []
        self._in_flight: list[_Pending] = []
        self._deadline_timer: asyncio.TimerHandle | None = None
        self.batches = 0
        self.requests = 0

    async def submit(self, model: ScoringModel, request: RowsToScore) -> Computed:
        """Queue the request's rows and wait for their share of a batch."""
        if self._stopping:
            raise _shutting_down()
        future: asyncio.Future[Computed] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(model, request, future))
        return await future

    def start(self) -> None:
        """Start the batching loop."""
        self._task = asyncio.create_task(self._run(), name="micro-batcher")

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop batching; afterwards no submitted request is left waiting.

        The batches already being computed may finish, within ``grace_s``: their features
        are being read and their callers are about to get their answers (and their rows to
        reach the log, which closes after the batcher). Requests not started yet, queued or
        carried over to the next take, fail at once with "the service is shutting down", as
        does a submit after stop. Batches still running after ``grace_s`` are cancelled, and
        their callers get the same error.
        """
        self._stopping = True
        _fail(self._carried)
        self._carried = []
        self._fail_queued()
        task = self._task
        if task is None:
            return
        if self._in_flight:
            await asyncio.wait({task}, timeout=grace_s)  # the loop ends after this take
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def _fail_queued(self) -> None:
        while not self._queue.empty():
            _fail([self._queue.get_nowait()])

    def _take(self, first: _Pending) -> list[list[_Pending]]:
        """``first`` and the requests queued behind it: one batch per version, in order.

        Taken until a request would take its version's batch past the row limit: that one is
        carried over to open the next take, and the rest of the queue waits behind it.
        """
        queue = self._queue
        if queue.empty():  # an idle service's lone request: nothing to group
            return [[first]]
        batches = {id(first.model): [first]}
        rows = {id(first.model): len(first.rows)}
        while not queue.empty():
            pending = queue.get_nowait()
            version = id(pending.model)  # the versions of one take are all alive: ids differ
            batch = batches.get(version)
            if batch is None:
                batches[version] = [pending]
                rows[version] = len(pending.rows)
                continue
            taken = rows[version] + len(pending.rows)
            if taken > self._max_rows:
                self._carried.append(pending)
                break
            batch.append(pending)
            rows[version] = taken
        return list(batches.values())

    async def _run(self) -> None:
        try:
            while not self._stopping:
                first = self._carried.pop(0) if self._carried else await self._queue.get()
                taken = self._take(first)
                now = time.perf_counter()
                # A client may have gone, or its deadline passed: its request is not computed.
                batches = [live for live in (_live(batch, now) for batch in taken) if live]
                self._in_flight = [pending for batch in batches for pending in batch]
                if batches:
                    await self._answer_take(batches)
                self._in_flight = []
        finally:
            self._stop_deadline_timer()
            # Cancelled (by stop() past its grace, or with the event loop): whatever the loop
            # still holds gets an error rather than a caller waiting forever.
            _fail(self._in_flight)
            _fail(self._carried)
            self._in_flight, self._carried = [], []
            self._fail_queued()

    async def _answer_take(self, batches: list[list[_Pending]]) -> None:
        """Compute the batches of one take, at once when there are several."""
        # Only a batch of several requests, or a request waiting for the next take, has a
        # member whose deadline may pass before the read's.
        if len(self._in_flight) > len(batches) or self._carried:
            self._expire_due()
        try:
            if len(batches) == 1:  # one version: no task to start
                await self._answer(batches[0])
            else:
                # A task each, with a copy of the context: each names its own request, and
                # they share their reads of one feature service (see shared_read).
                token = SHARED_READS.set(SharedReads())
                try:
                    await asyncio.gather(*(self._answer(batch) for batch in batches))
                finally:
                    SHARED_READS.reset(token)
        finally:
            self._stop_deadline_timer()

    async def _answer(self, live: list[_Pending]) -> None:
        """Compute one batch and give each request its own rows, or the batch's error."""
        # What the computation logs (a spool that cannot be written, say) names the request
        # it serves when there is one; a line about a batch of several names none of them.
        REQUEST_ID.set(live[0].request.request_id if len(live) == 1 else None)
        try:
            computed = await self._compute(live[0].model, [p.request for p in live])
        except Exception as exc:  # every request of the batch, and of no other, gets the error
            for pending in live:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        self.batches += 1
        self.requests += len(live)
        if len(live) == 1:  # a batch of one request: its rows are the batch's
            if not live[0].future.done():
                live[0].future.set_result(computed)
            return
        start = 0
        for pending in live:
            stop = start + len(pending.rows)
            if not pending.future.done():
                pending.future.set_result(computed.slice(start, stop))
            start = stop

    def _expire_due(self) -> None:
        """Fail the waiting requests whose deadline has passed; come back at the next one."""
        now = time.perf_counter()
        self._in_flight = _live(self._in_flight, now)
        self._carried = _live(self._carried, now)
        due = min((p.request.deadline for p in (*self._in_flight, *self._carried)), default=None)
        self._deadline_timer = None
        if due is not None and due < math.inf:
            loop = asyncio.get_running_loop()
            self._deadline_timer = loop.call_later(due - now, self._expire_due)

    def _stop_deadline_timer(self) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None


def _live(pending: list[_Pending], now: float) -> list[_Pending]:
    """The requests still waiting for an answer; those past their deadline get a 503 now."""
    live = []
    for waiting in pending:
        if waiting.future.done():
            continue  # the client went away
        if waiting.request.deadline <= now:
            waiting.future.set_exception(
                DeadlineExceeded("the request's time budget ran out before its features were read")
            )
            continue
        live.append(waiting)
    return live


def _shutting_down() -> RuntimeError:
    return RuntimeError("the service is shutting down")


def _fail(pending: Sequence[_Pending]) -> None:
    """Give requests that will not be computed the shutting-down error."""
    for waiting in pending:
        if not waiting.future.done():
            waiting.future.set_exception(_shutting_down())
