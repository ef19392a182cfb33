"""A Redis lock per job, so that however many schedulers run, one job runs once at a time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import redis
from redis.exceptions import LockError


@contextmanager
def job_lock(client: redis.Redis, job: str, timeout_s: int) -> Iterator[bool]:
    """Yield True while holding ``scorer:lock:job:<job>``, False if someone else holds it.

    The lock expires after ``timeout_s`` so a scheduler that dies does not block the job.
    """
    lock = client.lock(f"scorer:lock:job:{job}", timeout=timeout_s, blocking=False)
    acquired = bool(lock.acquire())
    try:
        yield acquired
    finally:
        if acquired:
            # If it expired while the job ran there is nothing left to release.
            with suppress(LockError):
                lock.release()
