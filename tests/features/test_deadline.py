"""`within`: a read's time limit holds even when the read ignores the cancellation it is sent."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from features.deadline import within

HANG_S = 5.0
"""How long the stubborn read goes on after its first cancellation: far past any limit here."""


async def stubborn_read(result: Any = "late", error: BaseException | None = None) -> Any:
    """A read that loses its first cancellation, as redis-py's send can on Python 3.11, and
    goes on reading until the store answers."""
    try:
        await asyncio.sleep(HANG_S)
    except asyncio.CancelledError:
        # Swallowed: what asyncio.wait_for does on 3.11 when the inner write has just ended.
        await asyncio.sleep(0.2)
    if error is not None:
        raise error
    return result


def test_a_read_that_loses_its_cancellation_still_ends_at_the_limit() -> None:
    async def run() -> float:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"no answer within 0\.05 s"):
            await within(stubborn_read(), 0.05)
        return time.monotonic() - started

    # asyncio.timeout() or asyncio.wait_for() would return "late" after the second sleep,
    # or wait for it: the caller is let go at the limit instead.
    elapsed = asyncio.run(run())
    assert elapsed < HANG_S / 2, elapsed


def test_the_answer_and_the_error_of_a_read_in_time_are_the_reads() -> None:
    async def answer() -> str:
        await asyncio.sleep(0)
        return "features"

    async def fails() -> None:
        await asyncio.sleep(0)
        raise ConnectionError("refused")

    assert asyncio.run(within(answer(), 1.0)) == "features"
    with pytest.raises(ConnectionError, match="refused"):
        asyncio.run(within(fails(), 1.0))


def test_a_late_error_of_an_abandoned_read_is_not_reported_as_lost() -> None:
    reported: list[dict[str, Any]] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: reported.append(context))
        with pytest.raises(TimeoutError):
            await within(stubborn_read(error=ConnectionError("gone")), 0.01)
        await asyncio.sleep(0.4)  # the abandoned read ends, with its error

    asyncio.run(run())
    assert reported == []


def test_a_cancelled_caller_cancels_its_read() -> None:
    async def run() -> bool:
        read_cancelled = asyncio.Event()

        async def read() -> None:
            try:
                await asyncio.sleep(HANG_S)
            except asyncio.CancelledError:
                read_cancelled.set()
                raise

        caller = asyncio.ensure_future(within(read(), HANG_S))
        await asyncio.sleep(0.01)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        await asyncio.wait_for(read_cancelled.wait(), 1.0)
        return read_cancelled.is_set()

    assert asyncio.run(run())
