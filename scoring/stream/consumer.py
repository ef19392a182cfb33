"""The stream consumer: read a batch of events, handle them together, settle them.

Delivery is at least once. An event is acknowledged only after its result (or its dead
letter) is written, so an event whose consumer dies before that is delivered again, to a
consumer that claims it, and may then have two results with the same ``event_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import orjson

from features.errors import FeatureStoreError
from scoring.errors import ScoringError
from scoring.serving.problems import problem_body, problem_of
from scoring.settings import Settings
from scoring.stream.transport import Event, EventTransport, Outcome, TransportUnavailable

log = logging.getLogger(__name__)

EventHandler = Callable[[Event], Awaitable[bytes | None]]
"""Handles one event: its result (None: it has none), or the error that it cannot be handled."""

MAX_BACKOFF_S = 5.0
"""Longest wait between two attempts to reach a transport that does not answer."""

CLAIM_EVERY_S = 5.0
"""How often at most idle entries are looked for, however long ``claim_idle_s`` is."""


@dataclass(frozen=True)
class ConsumerSettings:
    """How a consumer reads, claims and gives up; from the ``SCORER_STREAM_*`` settings."""

    batch_size: int = 256
    block_ms: int = 100
    claim_idle_s: float = 30.0
    max_deliveries: int = 5

    @classmethod
    def of(cls, settings: Settings) -> ConsumerSettings:
        """The consumer's part of ``settings``."""
        return cls(
            batch_size=settings.stream_batch_size,
            block_ms=settings.stream_block_ms,
            claim_idle_s=settings.stream_claim_idle_s,
            max_deliveries=settings.stream_max_deliveries,
        )


@dataclass
class _Settlement:
    """A processed batch on its way out: written, then acknowledged; resumed after an outage."""

    results: list[Outcome]
    dead: list[Outcome]
    done: list[str] = field(default_factory=list)
    """Events handled that have no result to write (pushes)."""
    results_written: bool = False
    dead_written: bool = False

    @property
    def event_ids(self) -> list[str]:
        return [*(o.event_id for o in (*self.results, *self.dead)), *self.done]


@dataclass
class ConsumerCounts:
    """What a consumer did since it started."""

    results: int = 0
    done: int = 0
    """Events handled without a result to write (pushes)."""
    dead: int = 0
    retried: int = 0
    outages: int = 0
    claimed: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


class StreamConsumer:
    """Hands the events of one transport to a handler (scoring, pushing) until stopped."""

    def __init__(
        self,
        transport: EventTransport,
        handler: EventHandler,
        settings: ConsumerSettings,
    ) -> None:
        self._handler = handler
        self._transport = transport
        self._settings = settings
        self._stop = asyncio.Event()
        self._unsettled: _Settlement | None = None
        self.counts = ConsumerCounts()

    def stop(self) -> None:
        """Finish the batch in hand, settle it, and return from :meth:`run`."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    async def run(self) -> None:
        """Claim, read, score and settle batches until :meth:`stop`; ride out outages."""
        s = self._settings
        claim_every = min(s.claim_idle_s / 2, CLAIM_EVERY_S)
        next_claim = 0.0
        prepared = False
        failures = 0
        while not self._stop.is_set():
            try:
                if not prepared:
                    await self._transport.prepare()
                    prepared = True
                if self._unsettled is not None:
                    await self._settle()  # the batch an outage interrupted, before any other
                events: list[Event] = []
                now = time.monotonic()
                if now >= next_claim:
                    events = await self._transport.claim(int(s.claim_idle_s * 1000), s.batch_size)
                    self.counts.claimed += len(events)
                    if len(events) < s.batch_size:  # else more are waiting: claim again next
                        next_claim = now + claim_every
                if not events:
                    events = await self._transport.read(s.batch_size, s.block_ms)
                retried = await self.process(events) if events else 0
                if failures:
                    log.info("the stream transport answers again")
                failures = 0
                if retried:  # the online store is down, say: let it come back
                    await self._pause(_backoff(1))
            except TransportUnavailable as exc:
                failures += 1
                self.counts.outages += failures == 1
                prepared = False  # the group may be gone with a restarted Redis
                if failures == 1 or failures % 60 == 0:
                    log.warning("%s; retrying (attempt %d)", exc, failures)
                await self._pause(_backoff(failures))
        with contextlib.suppress(TransportUnavailable):
            await self._transport.leave()

    async def process(self, events: Sequence[Event]) -> int:
        """Handle ``events`` together, write their results and dead letters, acknowledge them.

        Returns how many failed for a reason that may pass (the online store is down): those
        are left unacknowledged, to be claimed again after ``claim_idle_s``.
        """
        outcomes = await asyncio.gather(*(self._outcome(event) for event in events))
        results = [o for kind, o in outcomes if kind == "result" and o is not None]
        dead = [o for kind, o in outcomes if kind == "dead" and o is not None]
        done = [o.event_id for kind, o in outcomes if kind == "done" and o is not None]
        retried = sum(kind == "retry" for kind, _ in outcomes)
        self.counts.retried += retried
        self._unsettled = _Settlement(results, dead, done)
        await self._settle()
        return retried

    async def _settle(self) -> None:
        settling = self._unsettled
        assert settling is not None
        if not settling.results_written:
            await self._transport.write_results(settling.results)
            settling.results_written = True
        if not settling.dead_written:
            await self._transport.dead_letter(settling.dead)
            settling.dead_written = True
        await self._transport.ack(settling.event_ids)
        self._unsettled = None
        self.counts.results += len(settling.results)
        self.counts.done += len(settling.done)
        self.counts.dead += len(settling.dead)

    async def _outcome(self, event: Event) -> tuple[str, Outcome | None]:
        """``("result", ...)``, ``("done", ...)`` (no result), ``("dead", ...)``, or
        ``("retry", None)`` for one event."""
        s = self._settings
        if event.deliveries > s.max_deliveries:
            detail = (
                f"event {event.id} was delivered {event.deliveries} times without a result (it "
                "failed, or its consumer died, every time); the limit is "
                f"SCORER_STREAM_MAX_DELIVERIES={s.max_deliveries}"
            )
            return "dead", self._dead(event, problem_body(500, "Delivered too often", detail))
        try:
            result = await self._handler(event)
        except (ScoringError, FeatureStoreError) as exc:
            problem = problem_of(exc)
        except Exception as exc:  # a bug: retried like an outage, dead-lettered at the limit
            log.exception("event %s could not be handled", event.id)
            problem = problem_body(500, "Internal error", f"{type(exc).__name__}: {exc}")
        else:
            self._count(200)
            if result is None:  # handled, nothing to write (a push): acknowledged all the same
                return "done", Outcome(event.id, b"")
            return "result", Outcome(event.id, result)
        status = problem["status"]
        self._count(status)
        if status < 500 or event.deliveries >= s.max_deliveries:
            return "dead", self._dead(event, problem)
        return "retry", None

    def _dead(self, event: Event, problem: dict[str, object]) -> Outcome:
        log.warning("event %s dead-lettered: %s", event.id, problem["detail"])
        return Outcome(event.id, orjson.dumps(problem, option=orjson.OPT_NON_STR_KEYS))

    def _count(self, status: int) -> None:
        self.counts.by_status[status] = self.counts.by_status.get(status, 0) + 1

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when stopped meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)


def _backoff(failures: int) -> float:
    """Seconds before the next attempt: doubling from 0.1 s up to :data:`MAX_BACKOFF_S`, with
    jitter, so that consumers that lost Redis together do not all come back at once."""
    doubled = 0.1 * float(2 ** min(failures - 1, 10))
    return min(doubled, MAX_BACKOFF_S) * random.uniform(0.5, 1.0)
