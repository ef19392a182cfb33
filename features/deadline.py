"""A time limit on a read that holds whatever the store's client does with a cancellation.

``asyncio.timeout`` and ``asyncio.wait_for`` end a late read by cancelling it, and the caller
waits until the cancellation has arrived. On Python 3.11 a cancellation can be lost inside
redis-py: its send goes through ``asyncio.wait_for``, which returns the send's result instead
of raising when the cancellation comes just as the write completes (fixed in Python 3.12), and
a fresh connection's ``can_read_destructive`` then takes the next cancellation for its own
zero timeout. The read goes on until the store answers: behind a paused Redis, seconds after
the caller's budget ran out, with the micro-batcher waiting on it. ``wait_for`` is no way out
either, since it waits for the cancelled read to finish.

So the read runs as a task of its own, and the caller waits for it or for the time limit,
whichever comes first. At the limit the task is cancelled and left to end on its own: its
connection is closed as it goes (the fast read never puts a connection with replies in flight
back in the pool), and its outcome is retrieved so that nothing is logged as lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


async def within(read: Awaitable[T], timeout_s: float) -> T:
    """The result of ``read``, or TimeoutError once ``timeout_s`` has passed, whatever it does.

    A cancelled caller cancels the read too.
    """
    task = asyncio.ensure_future(read)
    try:
        done, _ = await asyncio.wait((task,), timeout=timeout_s)
    except BaseException:
        _abandon(task)
        raise
    if not done:
        _abandon(task)
        raise TimeoutError(f"no answer within {timeout_s:.2g} s")
    return task.result()


def _abandon(task: asyncio.Future[Any]) -> None:
    task.cancel()
    task.add_done_callback(_retrieve)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # an error after the caller gave up: nobody is waiting for it
