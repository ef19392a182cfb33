"""Errors raised when talking to Feast and the online store."""

from __future__ import annotations


class FeatureStoreError(Exception):
    """Base of the errors raised by ``features``."""


class FeatureServiceNotFound(FeatureStoreError):
    """The Feast registry has no feature service of that name."""


class UnsupportedFeature(FeatureStoreError):
    """A feature has a type the models cannot take (lists, maps, JSON, bytes)."""


class OnlineStoreUnavailable(FeatureStoreError):
    """The online store did not answer, or answered with an error, in time."""


class CircuitOpen(OnlineStoreUnavailable):
    """The online store is known to be down: the read was refused without trying it."""


class InvalidPush(FeatureStoreError):
    """Rows pushed to a push source do not fit its schema; ``problems`` names each column."""

    def __init__(self, message: str, problems: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class PushSourceNotFound(InvalidPush):
    """The Feast registry has no push source of that name, or it feeds no feature view."""


class PushTooLarge(InvalidPush):
    """A push holds more rows than the configured maximum."""
