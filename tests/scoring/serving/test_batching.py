"""The micro-batcher, with stand-in computations: merging, row limits, errors, stopping."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pytest

from scoring.errors import DeadlineExceeded
from scoring.logging_config import REQUEST_ID
from scoring.model.loaded import ScoringModel
from scoring.serving.batching import Computed, MicroBatcher, RowsToScore
from scoring.serving.feature_gaps import names_by_row

Rows = list[dict[str, Any]]


def request(rows: Rows, deadline: float = math.inf) -> RowsToScore:
    return RowsToScore(request_id="r", route="champion", rows=rows, started=0.0, deadline=deadline)


class Recorder:
    """Computes score = row["x"] * 2 and remembers each batch it was given."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[tuple[object, list[int]]] = []
        self.fail_on = fail_on

    async def __call__(self, model: ScoringModel, requests: Sequence[RowsToScore]) -> Computed:
        xs = [int(r["x"]) for request in requests for r in request.rows]
        self.batches.append((model, xs))
        await asyncio.sleep(0.01)  # a round trip, during which more requests queue up
        if self.fail_on in xs:
            raise ConnectionError("store down")
        missing = np.array([[x % 5 == 0] for x in xs], dtype=bool).reshape(len(xs), 1)
        return Computed(
            columns={"f": xs},
            scores=np.array(xs, dtype=float) * 2,
            missing=missing,
            missing_names=names_by_row(missing, ["f"]),
        )


MODEL_A = cast(ScoringModel, object())
MODEL_B = cast(ScoringModel, object())


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_concurrent_requests_share_batches_and_get_their_own_rows() -> None:
    async def main() -> tuple[list[Computed], Recorder]:
        compute = Recorder()
        batcher = MicroBatcher(compute, max_rows=100)
        batcher.start()
        requests = [[{"x": 10 * i + k} for k in range(i % 3 + 1)] for i in range(30)]
        results = await asyncio.gather(
            *(batcher.submit(MODEL_A, request(rows)) for rows in requests)
        )
        await batcher.stop()
        for rows, result in zip(requests, results, strict=True):
            assert dict(result.columns) == {"f": [r["x"] for r in rows]}
            assert result.scores.tolist() == [2.0 * r["x"] for r in rows]
            # Each row's names of what it missed, or none at all for a request missing nothing.
            lacking = [["f"] if r["x"] % 5 == 0 else [] for r in rows]
            assert result.missing_names == (lacking if any(lacking) else None)
            assert result.missing.tolist() == [[bool(names)] for names in lacking]
        return list(results), compute

    _, compute = run(main())
    assert len(compute.batches) < 30  # merged
    assert sum(len(xs) for _, xs in compute.batches) == sum(i % 3 + 1 for i in range(30))


def test_a_lone_request_does_not_wait() -> None:
    async def main() -> Recorder:
        compute = Recorder()
        batcher = MicroBatcher(compute, max_rows=100)
        batcher.start()
        result = await asyncio.wait_for(batcher.submit(MODEL_A, request([{"x": 1}])), 1.0)
        assert result.scores.tolist() == [2.0]
        await batcher.stop()
        return compute

    assert [xs for _, xs in run(main()).batches] == [[1]]


def test_row_limit_and_models_are_respected() -> None:
    async def main() -> Recorder:
        compute = Recorder()
        batcher = MicroBatcher(compute, max_rows=4)
        batcher.start()
        submits = [
            batcher.submit(MODEL_A if i % 2 else MODEL_B, request([{"x": i}])) for i in range(12)
        ]
        await asyncio.gather(*submits)
        await batcher.stop()
        return compute

    compute = run(main())
    for model, xs in compute.batches:
        assert len(xs) <= 4
        assert all((x % 2 == 1) == (model is MODEL_A) for x in xs)


def test_an_error_reaches_every_request_of_the_batch_only() -> None:
    async def main() -> list[Any]:
        batcher = MicroBatcher(Recorder(fail_on=3), max_rows=100)
        batcher.start()
        first = await batcher.submit(MODEL_A, request([{"x": 0}]))  # alone: fine
        assert first.scores.tolist() == [0.0]
        results = await asyncio.gather(
            *(batcher.submit(MODEL_A, request([{"x": i}])) for i in range(1, 6)),
            return_exceptions=True,
        )
        after = await batcher.submit(MODEL_A, request([{"x": 9}]))
        assert after.scores.tolist() == [18.0]
        await batcher.stop()
        return list(results)

    results = run(main())
    failed = [r for r in results if isinstance(r, ConnectionError)]
    assert failed, "the batch holding x=3 fails"
    assert all(isinstance(r, ConnectionError | Computed) for r in results)


def test_stop_fails_queued_requests_instead_of_hanging() -> None:
    async def main() -> None:
        batcher = MicroBatcher(Recorder(), max_rows=100)  # never started
        waiting = asyncio.ensure_future(batcher.submit(MODEL_A, request([{"x": 1}])))
        await asyncio.sleep(0)
        await batcher.stop()
        with pytest.raises(RuntimeError, match="shutting down"):
            await waiting

    run(main())


class Gate:
    """Computes score = x * 2; each of the first ``held`` batches waits for the test's release."""

    def __init__(self, held: int = 1) -> None:
        self.held = held
        self.batches: list[list[int]] = []
        self.entered: asyncio.Queue[list[int]] = asyncio.Queue()
        self.cancelled: list[list[int]] = []
        self._releases: list[asyncio.Event] = []

    def release(self, batch: int) -> None:
        self._releases[batch].set()

    async def __call__(self, model: ScoringModel, requests: Sequence[RowsToScore]) -> Computed:
        xs = [int(r["x"]) for request in requests for r in request.rows]
        self.batches.append(xs)
        release = asyncio.Event()
        self._releases.append(release)
        self.entered.put_nowait(xs)
        if len(self.batches) <= self.held:
            try:
                await release.wait()
            except asyncio.CancelledError:
                self.cancelled.append(xs)
                raise
        missing = np.array([[x % 5 == 0] for x in xs], dtype=bool).reshape(len(xs), 1)
        return Computed(
            columns={"f": xs},
            scores=np.array(xs, dtype=float) * 2,
            missing=missing,
            missing_names=names_by_row(missing, ["f"]),
        )


WAIT_S = 10.0
"""Bound on every wait: a request left unanswered fails the test instead of hanging it."""


def submitted(
    batcher: MicroBatcher, model: ScoringModel, xs: list[int], budget_s: float = math.inf
) -> asyncio.Task[Computed]:
    deadline = time.perf_counter() + budget_s
    return asyncio.ensure_future(batcher.submit(model, request([{"x": x} for x in xs], deadline)))


async def queued() -> None:
    """Let the requests just submitted reach the batcher's queue (one turn of the loop)."""
    await asyncio.sleep(0)


async def answer(task: asyncio.Task[Computed]) -> list[float]:
    result = await asyncio.wait_for(task, WAIT_S)
    return list(result.scores.tolist())


async def shutting_down(task: asyncio.Task[Computed]) -> None:
    with pytest.raises(RuntimeError, match="shutting down"):
        await asyncio.wait_for(task, WAIT_S)


def test_stop_answers_the_batch_in_flight_and_fails_the_requests_not_started() -> None:
    async def main() -> None:
        gate = Gate(held=2)
        batcher = MicroBatcher(gate, max_rows=2)
        batcher.start()
        blocker = submitted(batcher, MODEL_A, [0])
        assert await asyncio.wait_for(gate.entered.get(), WAIT_S) == [0]
        a1, a2, a3 = (submitted(batcher, MODEL_A, [x]) for x in (1, 3, 4))
        await queued()
        gate.release(0)
        assert await answer(blocker) == [0.0]
        # A1 and A2 fill a batch, being computed; A3 was taken with them and carried over.
        assert await asyncio.wait_for(gate.entered.get(), WAIT_S) == [1, 3]
        a4 = submitted(batcher, MODEL_A, [5])
        await queued()

        stopping = asyncio.ensure_future(batcher.stop(grace_s=3600))
        await shutting_down(a3)  # carried
        await shutting_down(a4)  # queued
        assert not stopping.done(), "stop waits for the batch in flight"
        gate.release(1)
        assert await answer(a1) == [2.0]
        assert await answer(a2) == [6.0]
        await asyncio.wait_for(stopping, WAIT_S)
        assert gate.batches == [[0], [1, 3]], "nothing started after stop"
        await shutting_down(submitted(batcher, MODEL_A, [6]))

    run(main())


def test_stop_cancels_a_batch_that_outlives_the_grace_and_fails_its_requests() -> None:
    async def main() -> None:
        gate = Gate(held=1)
        batcher = MicroBatcher(gate, max_rows=100)
        batcher.start()
        a1 = submitted(batcher, MODEL_A, [1])
        assert await asyncio.wait_for(gate.entered.get(), WAIT_S) == [1]
        a2 = submitted(batcher, MODEL_A, [3])
        await queued()
        await asyncio.wait_for(batcher.stop(grace_s=0.01), WAIT_S)  # never released
        for task in (a1, a2):
            await shutting_down(task)
        assert gate.cancelled == [[1]]

    run(main())


async def _batches_behind_a_blocker(max_rows: int, requests: list[list[int]]) -> list[list[int]]:
    """The batches ``requests`` make when they queue up together; checks each one's answer."""
    gate = Gate(held=1)
    batcher = MicroBatcher(gate, max_rows=max_rows)
    batcher.start()
    blocker = submitted(batcher, MODEL_A, [0])
    await asyncio.wait_for(gate.entered.get(), WAIT_S)
    tasks = [submitted(batcher, MODEL_A, xs) for xs in requests]
    await queued()
    gate.release(0)
    assert await answer(blocker) == [0.0]
    for xs, task in zip(requests, tasks, strict=True):
        result = await asyncio.wait_for(task, WAIT_S)
        assert result.columns["f"] == xs  # its own rows, in order
        assert result.scores.tolist() == [2.0 * x for x in xs]
    await batcher.stop()
    return gate.batches[1:]


@pytest.mark.parametrize(
    "requests",
    [[[10, 11, 12], [20]], [[10, 11], [20, 21]], [[10], [20, 21], [30]]],
    ids=["3+1", "2+2", "1+2+1"],
)
def test_requests_that_fill_a_batch_exactly_share_one_computation(
    requests: list[list[int]],
) -> None:
    batches = run(_batches_behind_a_blocker(4, requests))
    assert batches == [[x for xs in requests for x in xs]]


def test_a_request_one_row_over_the_limit_goes_to_the_next_batch() -> None:
    batches = run(_batches_behind_a_blocker(4, [[10, 11, 12], [20, 21]]))
    assert batches == [[10, 11, 12], [20, 21]]


def test_a_request_whose_caller_left_is_not_computed() -> None:
    async def main() -> tuple[Gate, MicroBatcher]:
        gate = Gate(held=1)
        batcher = MicroBatcher(gate, max_rows=100)
        batcher.start()
        blocker = submitted(batcher, MODEL_A, [0])
        await asyncio.wait_for(gate.entered.get(), WAIT_S)
        first, gone, last = (submitted(batcher, MODEL_A, xs) for xs in ([1], [2, 3], [4, 5]))
        await queued()
        gone.cancel()  # its caller went away while it was queued
        gate.release(0)
        assert await answer(blocker) == [0.0]
        assert await answer(first) == [2.0]
        assert await answer(last) == [8.0, 10.0]
        assert gone.cancelled()

        alone = submitted(batcher, MODEL_A, [6])  # a batch of callers who all left
        await queued()
        alone.cancel()
        assert await answer(submitted(batcher, MODEL_A, [7])) == [14.0]
        await batcher.stop()
        return gate, batcher

    gate, batcher = run(main())
    assert gate.batches == [[0], [1, 4, 5], [7]]
    assert (batcher.batches, batcher.requests) == (3, 4)


def test_a_queued_request_whose_deadline_passed_is_failed_without_being_computed() -> None:
    async def main() -> Gate:
        gate = Gate(held=1)
        batcher = MicroBatcher(gate, max_rows=100)
        batcher.start()
        blocker = submitted(batcher, MODEL_A, [0])
        await asyncio.wait_for(gate.entered.get(), WAIT_S)
        late = submitted(batcher, MODEL_A, [1], budget_s=0.05)
        in_time = submitted(batcher, MODEL_A, [2])
        await asyncio.sleep(0.1)  # the first batch holds the batcher past the deadline
        gate.release(0)
        assert await answer(blocker) == [0.0]
        with pytest.raises(DeadlineExceeded):
            await asyncio.wait_for(late, WAIT_S)
        assert await answer(in_time) == [4.0]
        await batcher.stop()
        return gate

    assert run(main()).batches == [[0], [2]]


def test_each_member_of_a_batch_fails_at_its_own_deadline_while_the_rest_wait() -> None:
    async def main() -> Gate:
        gate = Gate(held=2)
        batcher = MicroBatcher(gate, max_rows=2)
        batcher.start()
        blocker = submitted(batcher, MODEL_A, [0])
        await asyncio.wait_for(gate.entered.get(), WAIT_S)
        impatient = submitted(batcher, MODEL_A, [1], budget_s=0.2)
        patient = submitted(batcher, MODEL_A, [2], budget_s=60)
        carried = submitted(batcher, MODEL_A, [3], budget_s=0.3)  # one row over the limit
        await queued()
        gate.release(0)
        assert await answer(blocker) == [0.0]
        assert await asyncio.wait_for(gate.entered.get(), WAIT_S) == [1, 2]
        # The batch's computation is held: the impatient member and the carried request are
        # answered at their deadlines all the same, the patient one keeps waiting.
        with pytest.raises(DeadlineExceeded):
            await asyncio.wait_for(impatient, WAIT_S)
        with pytest.raises(DeadlineExceeded):
            await asyncio.wait_for(carried, WAIT_S)
        assert not patient.done()
        gate.release(1)
        assert await answer(patient) == [4.0]
        await batcher.stop()
        return gate

    assert run(main()).batches == [[0], [1, 2]]


def test_a_request_carried_to_the_next_take_fails_at_its_deadline_behind_a_lone_one() -> None:
    async def main() -> Gate:
        gate = Gate(held=2)
        batcher = MicroBatcher(gate, max_rows=1)
        batcher.start()
        blocker = submitted(batcher, MODEL_A, [0])
        await asyncio.wait_for(gate.entered.get(), WAIT_S)
        alone = submitted(batcher, MODEL_A, [1], budget_s=60)
        carried = submitted(batcher, MODEL_A, [2], budget_s=0.2)
        await queued()
        gate.release(0)
        assert await answer(blocker) == [0.0]
        assert await asyncio.wait_for(gate.entered.get(), WAIT_S) == [1]
        with pytest.raises(DeadlineExceeded):  # while the batch of one is computed
            await asyncio.wait_for(carried, WAIT_S)
        gate.release(1)
        assert await answer(alone) == [2.0]
        await batcher.stop()
        return gate

    assert run(main()).batches == [[0], [1]]


def test_a_computation_names_its_request_in_the_logs_only_when_it_has_one() -> None:
    """A batch of one request logs with its id; a batch of several with none of theirs."""
    ids_seen: list[str | None] = []
    computing, release = asyncio.Event(), asyncio.Event()

    async def compute(model: ScoringModel, requests: Sequence[RowsToScore]) -> Computed:
        ids_seen.append(REQUEST_ID.get())
        computing.set()
        await release.wait()  # the first computation runs until the others have queued
        n = sum(len(r.rows) for r in requests)
        return Computed({"f": [0] * n}, np.zeros(n), np.zeros((n, 1), dtype=bool))

    async def main() -> None:
        batcher = MicroBatcher(compute, max_rows=100)
        batcher.start()
        alone = RowsToScore("alone", "champion", [{"x": 1}], 0.0)
        first = asyncio.create_task(batcher.submit(MODEL_A, alone))
        await computing.wait()
        together = [RowsToScore(f"r{i}", "champion", [{"x": i}], 0.0) for i in range(2)]
        waiting = [asyncio.create_task(batcher.submit(MODEL_A, r)) for r in together]
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(first, *waiting)
        await batcher.stop()

    run(main())
    assert ids_seen == ["alone", None]


def _computed(xs: list[int]) -> Computed:
    """Score = x * 2 for each row, nothing missing."""
    n = len(xs)
    return Computed({"f": xs}, np.array(xs, dtype=float) * 2, np.zeros((n, 1), dtype=bool))


class Versions:
    """Computes score = x * 2, noting each batch's version, request ids and task.

    A batch holding a value of ``held`` waits until the test releases that value; ``fail``
    is a version whose batches raise once they are released.
    """

    def __init__(self, held: Sequence[int] = (), fail: ScoringModel | None = None) -> None:
        self.releases = {x: asyncio.Event() for x in held}
        self.started: dict[int, asyncio.Event] = {}
        self.batches: list[tuple[ScoringModel, list[int]]] = []
        self.request_ids: list[str | None] = []
        self.tasks: list[str] = []
        self.cancelled: list[list[int]] = []
        self.fail = fail

    def has_started(self, x: int) -> asyncio.Event:
        """Set once the batch holding ``x`` is being computed."""
        return self.started.setdefault(x, asyncio.Event())

    async def __call__(self, model: ScoringModel, requests: Sequence[RowsToScore]) -> Computed:
        xs = [int(r["x"]) for request in requests for r in request.rows]
        self.batches.append((model, xs))
        self.request_ids.append(REQUEST_ID.get())
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append(task.get_name())
        for x in xs:
            self.has_started(x).set()
        try:
            for x in xs:
                if x in self.releases:
                    await self.releases[x].wait()
        except asyncio.CancelledError:
            self.cancelled.append(xs)
            raise
        if model is self.fail:
            raise ConnectionError(f"store down for {xs}")
        return _computed(xs)


async def _started(versions: Versions, *xs: int) -> None:
    for x in xs:
        await asyncio.wait_for(versions.has_started(x).wait(), WAIT_S)


def test_the_versions_queued_together_are_computed_at_once() -> None:
    """A canary's batch is computed beside the champion's, not after it."""

    async def main() -> tuple[Versions, MicroBatcher]:
        versions = Versions(held=[0, 1])
        batcher = MicroBatcher(versions, max_rows=100)
        batcher.start()
        blocker = submitted(batcher, MODEL_A, [0])
        await _started(versions, 0)
        a1, b1, a2, b2 = (
            submitted(batcher, m, [x])
            for m, x in ((MODEL_A, 1), (MODEL_B, 2), (MODEL_A, 3), (MODEL_B, 4))
        )
        await queued()
        versions.releases[0].set()
        assert await answer(blocker) == [0.0]
        await _started(versions, 1, 2)  # B's batch starts while A's is held
        assert [await answer(t) for t in (b1, b2)] == [[4.0], [8.0]]
        assert not a1.done()
        versions.releases[1].set()
        assert [await answer(t) for t in (a1, a2)] == [[2.0], [6.0]]
        await batcher.stop()
        return versions, batcher

    versions, batcher = run(main())
    assert versions.batches == [(MODEL_A, [0]), (MODEL_A, [1, 3]), (MODEL_B, [2, 4])]
    assert (batcher.batches, batcher.requests) == (3, 5)


def test_a_shadow_batch_runs_beside_the_answered_one_not_ahead_of_it() -> None:
    async def main() -> None:
        versions = Versions(held=[0, 1])
        batcher = MicroBatcher(versions, max_rows=100)
        batcher.start()
        blocker = submitted(batcher, MODEL_A, [0])
        await _started(versions, 0)
        shadow = asyncio.ensure_future(
            batcher.submit(MODEL_B, RowsToScore("s", "shadow", [{"x": 1}], 0.0))
        )
        champion = submitted(batcher, MODEL_A, [2])
        await queued()
        versions.releases[0].set()
        assert await answer(blocker) == [0.0]
        assert await answer(champion) == [4.0]  # while the shadow queued before it computes
        assert not shadow.done()
        versions.releases[1].set()
        assert await answer(shadow) == [2.0]
        await batcher.stop()

    run(main())


def test_one_versions_error_reaches_its_requests_only() -> None:
    async def main() -> tuple[list[Any], Versions]:
        versions = Versions(held=[0], fail=MODEL_B)
        batcher = MicroBatcher(versions, max_rows=100)
        batcher.start()
        blocker = submitted(batcher, MODEL_A, [0])
        await _started(versions, 0)
        tasks = [submitted(batcher, m, [x]) for m, x in ((MODEL_A, 1), (MODEL_B, 2),
                                                          (MODEL_A, 3), (MODEL_B, 4))]  # fmt: skip
        await queued()
        versions.releases[0].set()
        assert await answer(blocker) == [0.0]
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), WAIT_S)
        assert await answer(submitted(batcher, MODEL_A, [5])) == [10.0]
        await batcher.stop()
        return list(results), versions

    results, versions = run(main())
    assert [r.scores.tolist() for r in results[::2]] == [[2.0], [6.0]]
    for failed in results[1::2]:
        assert isinstance(failed, ConnectionError)
        assert str(failed) == "store down for [2, 4]"
    assert (MODEL_A, [1, 3]) in versions.batches


def test_each_versions_members_fail_at_their_own_deadlines_while_both_compute() -> None:
    async def main() -> Versions:
        versions = Versions(held=[0, 1, 3])
        batcher = MicroBatcher(versions, max_rows=100)
        batcher.start()
        blocker = submitted(batcher, MODEL_A, [0])
        await _started(versions, 0)
        a_patient = submitted(batcher, MODEL_A, [1], budget_s=60)
        a_impatient = submitted(batcher, MODEL_A, [2], budget_s=0.2)
        b_patient = submitted(batcher, MODEL_B, [3], budget_s=60)
        b_impatient = submitted(batcher, MODEL_B, [4], budget_s=0.3)
        await queued()
        versions.releases[0].set()
        assert await answer(blocker) == [0.0]
        await _started(versions, 1, 3)
        for impatient in (a_impatient, b_impatient):
            with pytest.raises(DeadlineExceeded):
                await asyncio.wait_for(impatient, WAIT_S)
        assert not a_patient.done()
        assert not b_patient.done()
        versions.releases[1].set()
        versions.releases[3].set()
        assert await answer(a_patient) == [2.0]
        assert await answer(b_patient) == [6.0]
        await batcher.stop()
        return versions

    versions = run(main())
    assert versions.batches[1:] == [(MODEL_A, [1, 2]), (MODEL_B, [3, 4])]


def test_stop_lets_both_versions_in_flight_finish_and_fails_the_rest() -> None:
    async def main() -> Versions:
        versions = Versions(held=[0, 1, 2])
        batcher = MicroBatcher(versions, max_rows=1)
        batcher.start()
        blocker = submitted(batcher, MODEL_A, [0])
        await _started(versions, 0)
        a1, b1, carried = (submitted(batcher, m, [x]) for m, x in
                           ((MODEL_A, 1), (MODEL_B, 2), (MODEL_A, 3)))  # fmt: skip
        await queued()
        versions.releases[0].set()
        assert await answer(blocker) == [0.0]
        await _started(versions, 1, 2)
        queued_late = submitted(batcher, MODEL_B, [4])
        await queued()

        stopping = asyncio.ensure_future(batcher.stop(grace_s=3600))
        await shutting_down(carried)
        await shutting_down(queued_late)
        versions.releases[1].set()
        assert await answer(a1) == [2.0]
        await asyncio.sleep(0.05)
        assert not stopping.done(), "stop waits for every batch in flight"
        versions.releases[2].set()
        assert await answer(b1) == [4.0]
        await asyncio.wait_for(stopping, WAIT_S)
        return versions

    assert [xs for _, xs in run(main()).batches] == [[0], [1], [2]]


def test_stop_cancels_both_versions_past_the_grace_and_fails_their_requests() -> None:
    async def main() -> Versions:
        versions = Versions(held=[1, 2])
        batcher = MicroBatcher(versions, max_rows=100)
        batcher.start()
        a1, b1 = submitted(batcher, MODEL_A, [1]), submitted(batcher, MODEL_B, [2])
        await _started(versions, 1, 2)
        a2 = submitted(batcher, MODEL_A, [3])
        await queued()
        await asyncio.wait_for(batcher.stop(grace_s=0.01), WAIT_S)  # never released
        for task in (a1, b1, a2):
            await shutting_down(task)
        return versions

    assert sorted(run(main()).cancelled) == [[1], [2]]


def test_a_take_of_one_version_starts_no_task_and_one_of_two_names_each_lone_request() -> None:
    async def main() -> Versions:
        versions = Versions(held=[0])
        batcher = MicroBatcher(versions, max_rows=100)
        batcher.start()
        blocker = asyncio.ensure_future(
            batcher.submit(MODEL_A, RowsToScore("first", "champion", [{"x": 0}], 0.0))
        )
        await _started(versions, 0)
        requests = [(MODEL_A, "a", 1), (MODEL_B, "b1", 2), (MODEL_B, "b2", 3)]
        tasks = [asyncio.ensure_future(batcher.submit(m, RowsToScore(i, "champion", [{"x": x}],
                 0.0))) for m, i, x in requests]  # fmt: skip
        await queued()
        versions.releases[0].set()
        await asyncio.wait_for(asyncio.gather(blocker, *tasks), WAIT_S)
        await batcher.stop()
        return versions

    versions = run(main())
    assert versions.request_ids == ["first", "a", None]
    loop_task, *take_tasks = versions.tasks
    assert loop_task == "micro-batcher"  # computed in the loop's own task
    assert len(set(take_tasks)) == 2
    assert "micro-batcher" not in take_tasks


def test_a_take_ends_at_the_request_its_version_has_no_room_for() -> None:
    async def main() -> Versions:
        versions = Versions(held=[0])
        batcher = MicroBatcher(versions, max_rows=2)
        batcher.start()
        blocker = submitted(batcher, MODEL_A, [0])
        await _started(versions, 0)
        order = ((MODEL_A, 1), (MODEL_B, 2), (MODEL_A, 3), (MODEL_A, 4), (MODEL_B, 5))
        tasks = [submitted(batcher, m, [x]) for m, x in order]
        await queued()
        versions.releases[0].set()
        assert await answer(blocker) == [0.0]
        assert [await answer(t) for t in tasks] == [[2.0 * x] for _, x in order]
        await batcher.stop()
        return versions

    # A4 would be A's third row: it opens the next take, and B5 behind it waits for that one.
    assert run(main()).batches == [
        (MODEL_A, [0]), (MODEL_A, [1, 3]), (MODEL_B, [2]), (MODEL_A, [4]), (MODEL_B, [5])
    ]  # fmt: skip


def test_requests_alone_in_their_batches_are_left_to_their_reads_own_deadlines() -> None:
    """No timer for a take whose batches are one request each: each read ends at its own
    deadline (this stand-in ignores them, so its answers come after)."""

    async def main() -> None:
        versions = Versions(held=[0, 1, 2])
        batcher = MicroBatcher(versions, max_rows=100)
        batcher.start()
        lone = submitted(batcher, MODEL_A, [0], budget_s=0.05)
        await _started(versions, 0)
        await asyncio.sleep(0.1)  # past its deadline, while it computes
        assert not lone.done()
        versions.releases[0].set()
        assert await answer(lone) == [0.0]

        a1 = submitted(batcher, MODEL_A, [1], budget_s=0.05)
        b1 = submitted(batcher, MODEL_B, [2], budget_s=0.05)  # one take, two batches of one
        await _started(versions, 1, 2)
        await asyncio.sleep(0.1)
        assert not a1.done()
        assert not b1.done()
        versions.releases[1].set()
        versions.releases[2].set()
        assert await answer(a1) == [2.0]
        assert await answer(b1) == [4.0]
        await batcher.stop()

    run(main())
