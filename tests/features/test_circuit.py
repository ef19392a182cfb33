"""The circuit breaker's state machine, every transition, on a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from features.circuit import CircuitBreaker, CircuitState
from features.errors import CircuitOpen, FeatureServiceNotFound, OnlineStoreUnavailable
from features.readers import CircuitBreakingReader


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(failures: int = 3, cooldown_s: float = 1.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker(failures, cooldown_s, clock), clock


def opened() -> tuple[CircuitBreaker, Clock]:
    circuit, clock = breaker()
    for _ in range(3):
        assert circuit.admit()
        circuit.failed("down")
    return circuit, clock


def test_closed_admits_every_read_and_failures_below_the_threshold_keep_it_closed() -> None:
    circuit, _ = breaker()
    for _ in range(2):
        assert circuit.admit()
        circuit.failed("timeout")
    assert circuit.state is CircuitState.CLOSED
    assert not circuit.is_open
    assert circuit.admit()


def test_a_success_resets_the_count_of_failures_in_a_row() -> None:
    circuit, _ = breaker()
    circuit.failed("one")
    circuit.failed("two")
    circuit.succeeded()
    circuit.failed("three")
    circuit.failed("four")
    assert circuit.state is CircuitState.CLOSED


def test_closed_to_open_after_the_threshold_of_failures_in_a_row() -> None:
    circuit, _ = opened()
    assert circuit.state is CircuitState.OPEN
    assert circuit.is_open
    assert circuit.openings == 1
    assert "3 failed read(s) in a row" in circuit.describe()
    assert "last failure: down" in circuit.describe()


def test_open_refuses_reads_until_the_cool_down_has_passed() -> None:
    circuit, clock = opened()
    assert not circuit.admit()
    clock.now += 0.6
    assert not circuit.admit()
    assert circuit.seconds_to_probe() == pytest.approx(0.4)
    assert "next probe in 0.4 s" in circuit.describe()


def test_open_to_half_open_lets_exactly_one_probe_through() -> None:
    circuit, clock = opened()
    clock.now += 1.0
    assert circuit.seconds_to_probe() == 0.0
    assert circuit.admit()  # the probe
    assert circuit.state is CircuitState.HALF_OPEN
    assert circuit.is_open
    assert not circuit.admit()  # everyone else, while the probe is out
    assert "a probe read is with it now" in circuit.describe()


def test_half_open_to_closed_when_the_probe_succeeds() -> None:
    circuit, clock = opened()
    clock.now += 1.0
    assert circuit.admit()
    circuit.succeeded()
    assert circuit.state is CircuitState.CLOSED
    assert circuit.admit()
    assert circuit.admit()
    # Counting starts again from zero: it takes the full threshold to open again.
    circuit.failed("x")
    circuit.failed("y")
    assert circuit.state is CircuitState.CLOSED


def test_half_open_to_open_when_the_probe_fails_with_a_new_cool_down() -> None:
    circuit, clock = opened()
    clock.now += 1.0
    assert circuit.admit()
    circuit.failed("still down")
    assert circuit.state is CircuitState.OPEN
    assert circuit.openings == 2
    assert not circuit.admit()
    clock.now += 0.99
    assert not circuit.admit()
    clock.now += 0.01
    assert circuit.admit()


def test_a_probe_abandoned_without_a_verdict_lets_the_next_read_probe_at_once() -> None:
    circuit, clock = opened()
    clock.now += 1.0
    assert circuit.admit()
    circuit.abandoned()
    assert circuit.state is CircuitState.OPEN
    assert circuit.admit()  # no new cool-down: the store was never asked
    assert circuit.state is CircuitState.HALF_OPEN


def test_abandoned_changes_nothing_when_closed_or_open() -> None:
    circuit, _ = breaker()
    circuit.failed("one")
    circuit.abandoned()
    assert circuit.state is CircuitState.CLOSED
    circuit, _ = opened()
    circuit.abandoned()
    assert circuit.state is CircuitState.OPEN
    assert not circuit.admit()


def test_a_late_failure_of_a_read_admitted_before_it_opened_does_not_extend_the_cool_down() -> None:
    circuit, clock = opened()
    clock.now += 0.9
    circuit.failed("late")
    clock.now += 0.1
    assert circuit.admit()
    assert circuit.openings == 1


def test_a_late_success_closes_an_open_circuit() -> None:
    circuit, _ = opened()
    circuit.succeeded()  # a read let through before it opened got its answer after all
    assert circuit.state is CircuitState.CLOSED


def test_a_breaker_needs_a_positive_threshold() -> None:
    with pytest.raises(ValueError, match="at least one failure"):
        CircuitBreaker(0, 1.0)


class ScriptedReader:
    """A reader of pure logic: answers, fails or hangs as the test scripts it."""

    def __init__(self) -> None:
        self.outcome: BaseException | None = None
        self.reads = 0
        self.timeouts: list[float | None] = []

    async def read(
        self,
        feature_service: str,
        rows: Sequence[Mapping[str, Any]],
        timeout_s: float | None = None,
    ) -> Mapping[str, Sequence[Any]]:
        self.reads += 1
        self.timeouts.append(timeout_s)
        if self.outcome is not None:
            raise self.outcome
        return {"v__f": [1.0] * len(rows)}

    async def close(self) -> None:
        pass


def test_the_guarded_reader_opens_refuses_probes_and_closes() -> None:
    circuit, clock = breaker(failures=2, cooldown_s=1.0)
    inner = ScriptedReader()
    reader = CircuitBreakingReader(inner, circuit)

    async def main() -> None:
        assert await reader.read("s", [{}], 0.2) == {"v__f": [1.0]}
        assert inner.timeouts == [0.2]  # the time left is passed on
        inner.outcome = OnlineStoreUnavailable("online store did not answer within 0.25 s")
        for _ in range(2):
            with pytest.raises(OnlineStoreUnavailable):
                await reader.read("s", [{}])
        assert circuit.is_open
        with pytest.raises(CircuitOpen, match=r"did not answer within 0\.25 s"):
            await reader.read("s", [{}])
        assert inner.reads == 3  # refused without asking the store
        # An error that says nothing of the store (an unknown service) does not count, and
        # a probe that ends with one lets the next read probe.
        clock.now += 1.0
        inner.outcome = FeatureServiceNotFound("no such service")
        with pytest.raises(FeatureServiceNotFound):
            await reader.read("s", [{}])
        assert circuit.state is CircuitState.OPEN
        inner.outcome = None
        assert await reader.read("s", [{}]) == {"v__f": [1.0]}
        assert circuit.state is CircuitState.CLOSED
        await reader.close()

    asyncio.run(main())


def test_a_cancelled_probe_does_not_leave_the_circuit_half_open() -> None:
    circuit, clock = opened()
    clock.now += 1.0
    inner = ScriptedReader()
    inner.outcome = asyncio.CancelledError()
    reader = CircuitBreakingReader(inner, circuit)

    async def main() -> None:
        with pytest.raises(asyncio.CancelledError):
            await reader.read("s", [{}])

    asyncio.run(main())
    assert circuit.state is CircuitState.OPEN
    assert circuit.admit()


def test_refuses_tells_without_taking_the_probe_s_turn() -> None:
    circuit, clock = breaker()
    assert not circuit.refuses()
    circuit, clock = opened()
    assert circuit.refuses()
    clock.now += 1.0
    assert not circuit.refuses()
    assert not circuit.refuses()  # asking twice does not use up the probe
    assert circuit.admit()
    assert circuit.refuses()  # the probe is out
