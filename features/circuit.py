"""A circuit breaker for the online store: once it is known down, reads are refused at once.

Without it, every request waits out its whole time budget against a store that is not there,
and a service under load piles up requests that will all fail. After ``failures`` reads in a
row fail, the circuit opens: reads are refused without touching the store for ``cooldown_s``.
Then the next read is let through as a probe (half-open) while the others are still refused;
its success closes the circuit, its failure opens it for another cool-down.

A small state machine rather than a library: the maintained asyncio breakers (purgatory,
aiobreaker) go through a message bus or an awaited storage on every call, where a read on the
hot path here costs one attribute comparison before and one after while the circuit is closed.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable


class CircuitState(enum.Enum):
    """Where the breaker stands."""

    CLOSED = "closed"
    """Reads go to the store."""
    OPEN = "open"
    """Reads are refused until the cool-down has passed."""
    HALF_OPEN = "half-open"
    """One read (the probe) is with the store; the others are refused until it answers."""


class CircuitBreaker:
    """Opens after ``failures`` failed reads in a row; lets a probe through after ``cooldown_s``."""

    def __init__(
        self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if failures < 1:
            raise ValueError("a circuit breaker opens after at least one failure")
        self.failures = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self.state = CircuitState.CLOSED
        self.is_open = False
        """True unless reads go to the store freely (open, or half-open with a probe out).

        A plain attribute, kept with ``state``: it is what the hot path reads."""
        self._failed_in_a_row = 0
        self._opened_at = -math.inf
        self.last_failure = ""
        """What the last failed read said, kept as the reason the circuit is open."""
        self.openings = 0
        """How many times the circuit has opened (a probe that fails reopens it)."""

    def _set(self, state: CircuitState) -> None:
        self.state = state
        self.is_open = state is not CircuitState.CLOSED

    def admit(self) -> bool:
        """Whether a read may go to the store now; the first one after the cool-down probes it."""
        if not self.is_open:
            return True
        if self.state is CircuitState.OPEN and self._clock() - self._opened_at >= self.cooldown_s:
            self._set(CircuitState.HALF_OPEN)
            return True
        return False

    def refuses(self) -> bool:
        """Whether a read would be refused now, without taking the probe's turn."""
        if not self.is_open:
            return False
        return self.state is CircuitState.HALF_OPEN or self.seconds_to_probe() > 0

    def succeeded(self) -> None:
        """A read got its answer: the store is there."""
        if self.is_open or self._failed_in_a_row:
            self._set(CircuitState.CLOSED)
            self._failed_in_a_row = 0

    def failed(self, reason: str) -> None:
        """A read found the store down or too slow."""
        self.last_failure = reason
        if self.state is CircuitState.HALF_OPEN:
            self._open()
        elif self.state is CircuitState.CLOSED:
            self._failed_in_a_row += 1
            if self._failed_in_a_row >= self.failures:
                self._open()
        # Open already: a read let through before it opened says nothing new.

    def abandoned(self) -> None:
        """A read ended without a verdict on the store (cancelled, or refused for another reason).

        A probe that ends so must not leave the circuit half-open for good: the next read
        after it is the probe instead, at once.
        """
        if self.state is CircuitState.HALF_OPEN:
            self._set(CircuitState.OPEN)

    def _open(self) -> None:
        self._set(CircuitState.OPEN)
        self._opened_at = self._clock()
        self._failed_in_a_row = 0
        self.openings += 1

    def seconds_to_probe(self) -> float:
        """How long until a read is let through as a probe (0 when one may go now)."""
        if self.state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown_s - self._clock())

    def describe(self) -> str:
        """Why reads are refused, for an error or the readiness answer."""
        if self.state is CircuitState.HALF_OPEN:
            when = "a probe read is with it now"
        else:
            when = f"next probe in {self.seconds_to_probe():.1f} s"
        return (
            f"the online store circuit is open after {self.failures} failed read(s) in a row "
            f"({when}); last failure: {self.last_failure}"
        )
