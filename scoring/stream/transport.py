"""What the stream consumer needs of a log of events, whatever carries it (Redis Streams here).

A Kafka source would implement the same few calls (read, claim, write results, dead-letter,
acknowledge) and the scoring would not change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from scoring.errors import ScoringError


class TransportUnavailable(Exception):
    """The transport's server does not answer now; the consumer retries with back-off."""


class TransportRefused(ScoringError):
    """The transport's server refused a command for good (a key that is not a stream, say)."""


@dataclass(frozen=True)
class Event:
    """One entry of the input stream, as delivered to this consumer."""

    id: str
    """The entry's id in its stream: the result's ``event_id`` and the log's ``request_id``."""
    body: bytes | None
    """The entry's ``body`` field; None when it has none."""
    deliveries: int = 1
    """How many times the entry has been delivered to a consumer, this time included."""


@dataclass(frozen=True)
class Outcome:
    """What becomes of an event: a result, or a dead letter, keyed by the event's id."""

    event_id: str
    payload: bytes
    """The result's body (JSON), or the dead letter's error (problem+json)."""


class EventTransport(Protocol):
    """A consumer's view of a stream and its consumer group."""

    async def prepare(self) -> None:
        """Make sure the stream and the group exist (recreated if they went)."""
        ...

    async def read(self, count: int, block_ms: int) -> list[Event]:
        """Up to ``count`` entries no consumer of the group was given yet; waits ``block_ms``."""
        ...

    async def claim(self, min_idle_ms: int, count: int) -> list[Event]:
        """Up to ``count`` entries delivered ``min_idle_ms`` ago or more and not acknowledged."""
        ...

    async def write_results(self, results: Sequence[Outcome]) -> None:
        """Append the results to the output stream."""
        ...

    async def dead_letter(self, dead: Sequence[Outcome]) -> None:
        """Append the events that cannot be processed, with their error, to the dead letters."""
        ...

    async def ack(self, event_ids: Sequence[str]) -> None:
        """Acknowledge the events: no consumer is given them again."""
        ...

    async def leave(self) -> None:
        """Leave the group if this consumer holds no entry; keep its name otherwise."""
        ...

    async def close(self) -> None:
        """Close the connection."""
        ...
