"""A Redis lock per job, so that however many schedulers run, one job runs once at a time.

The lock lives a short time (``ttl_s``) and a heartbeat renews it while its holder runs, so a
holder that dies (``kill -9``, a lost host) blocks the job for at most ``ttl_s``, not for as
long as the longest job could take. Its value names the holder (host and pid), which is how a
run that finds the job locked can say who holds it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import cast

import redis
from redis.exceptions import LockError, LockNotOwnedError, RedisError
from redis.lock import Lock

log = logging.getLogger(__name__)

HOST = socket.gethostname()


def lock_key(job: str) -> str:
    """The Redis key of ``job``'s lock."""
    return f"scorer:lock:job:{job}"


@dataclass(frozen=True)
class LockHolder:
    """Who holds a job lock: the host and process, as its token records them."""

    host: str
    pid: int

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"

    @classmethod
    def from_token(cls, token: bytes | str) -> LockHolder | None:
        """The holder a lock token names; None for a token this module did not write."""
        text = token.decode(errors="replace") if isinstance(token, bytes) else token
        host, _, rest = text.rpartition("|pid=")
        pid_text, _, _ = rest.partition("|")
        if not host or not pid_text.isdigit():
            return None
        return cls(host=host, pid=int(pid_text))


@dataclass
class JobLockState:
    """The outcome of trying a job lock: held by us, or by ``holder``."""

    acquired: bool
    holder: LockHolder | None = None
    """Who held the lock when it was refused; None when acquired or the holder is unknown."""
    lost: threading.Event = field(default_factory=threading.Event)
    """Set when the heartbeat found the lock taken from us (it had expired) while we ran."""

    def __bool__(self) -> bool:
        return self.acquired


def _token() -> str:
    return f"{HOST}|pid={os.getpid()}|{uuid.uuid4().hex}"


def _heartbeat(lock: Lock, every_s: float, stop: threading.Event, lost: threading.Event) -> None:
    """Renew ``lock`` to its full TTL every ``every_s`` until ``stop``, or until it is lost."""
    while not stop.wait(every_s):
        try:
            lock.reacquire()
        except LockNotOwnedError:
            lost.set()
            log.warning("job lock %s expired while its job ran", lock.name)
            return
        except RedisError as exc:
            # Transient: the next beat tries again; if Redis stays away the lock expires.
            log.warning("could not renew job lock %s: %s", lock.name, exc)


def _try_acquire(
    client: redis.Redis, job: str, ttl_s: float
) -> tuple[Lock | None, LockHolder | None]:
    """The lock if it was free; otherwise who holds it (None if it was released meanwhile)."""
    # thread_local=False: the heartbeat thread renews with the token the acquiring thread set.
    lock = client.lock(lock_key(job), timeout=ttl_s, blocking=False, thread_local=False)
    for _ in range(3):
        if lock.acquire(token=_token()):
            return lock, None
        token = cast("bytes | None", client.get(lock_key(job)))
        if token is not None:
            return None, LockHolder.from_token(token)
        # Released between our attempt and our look: it is free, try again.
    return None, None


@contextmanager
def job_lock(client: redis.Redis, job: str, ttl_s: float) -> Iterator[JobLockState]:
    """Hold ``scorer:lock:job:<job>`` (state true), or learn who holds it (state false).

    While held, a heartbeat renews the lock to ``ttl_s`` every third of it; the lock outlives
    a holder that dies without releasing it by ``ttl_s`` at most.
    """
    lock, holder = _try_acquire(client, job, ttl_s)
    if lock is None:
        yield JobLockState(acquired=False, holder=holder)
        return
    state = JobLockState(acquired=True)
    stop = threading.Event()
    beat = threading.Thread(
        target=_heartbeat,
        args=(lock, ttl_s / 3, stop, state.lost),
        name=f"job-lock-{job}",
        daemon=True,
    )
    beat.start()
    try:
        yield state
    finally:
        stop.set()
        beat.join()
        # If it expired while the job ran there is nothing left to release.
        with suppress(LockError):
            lock.release()
