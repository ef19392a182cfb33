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
