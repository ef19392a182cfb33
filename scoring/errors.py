"""The service's own errors; the web layer maps each type to an HTTP status."""

from __future__ import annotations

QUOTE_LIMIT = 100
"""Characters of client input an error message quotes at most."""


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters with its full length.

    Clients send anything: a 50 MB model name must not come back in a 50 MB answer.
    """
    return clipped(repr(value), limit)


def clipped(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


class ScoringError(Exception):
    """Base of every error the scoring service raises on purpose."""


class InvalidRequest(ScoringError):
    """The request body does not fit the model's inputs."""


class BatchTooLarge(ScoringError):
    """The request holds more rows than the configured maximum."""


class ModelNotFound(ScoringError):
    """No model, version or alias of that name is registered."""


class InvalidModelName(InvalidRequest, ValueError):
    """A model name that is not 1-64 letters, digits, '_', '.' or '-' (so never a path)."""


class ModelLoadError(ScoringError):
    """A registered model version is missing files or cannot be loaded."""


class VersionNotLoadable(ModelLoadError):
    """An alias was to point at a version that cannot be loaded; the aliases are unchanged."""


class RegistryCorrupt(ScoringError):
    """A registry file (a model's aliases) cannot be read or parsed; it names the file."""


class RegistryBusy(ScoringError):
    """Another process held a model's alias lock for too long; nothing was changed."""


class AliasMoved(ScoringError):
    """An alias no longer points at the version a change expected; nothing was changed."""


class RegistryUnwritable(ScoringError):
    """The registry's files cannot be written (a read-only or full disk); nothing was changed."""


class LogUnavailable(ScoringError):
    """The log cannot take more rows now: its buffer is full (a failing disk) or it is closing."""


class LogDisabled(ScoringError):
    """The log is turned off, so what only the log keeps (feedback labels) cannot be taken."""


class FeaturesAllMissing(ScoringError):
    """No row of a request has any stored feature, and the settings say to refuse such rows."""


class TrainingError(ScoringError):
    """Training could not produce a model from the given labels and features."""


class Unauthorized(ScoringError):
    """An admin call came without a valid key."""


class Forbidden(ScoringError):
    """Admin calls are refused because no admin key is configured."""


class DeadlineExceeded(ScoringError):
    """The request's time budget ran out before its features could be read."""


class InvalidSetting(ScoringError, ValueError):
    """A ``SCORER_`` variable or a command option has a value that cannot be used; it names it."""


class UnknownJob(ScoringError, ValueError):
    """No job of that name; the message lists the jobs there are."""


class RedisUnavailable(ScoringError):
    """The Redis that holds the service's locks does not answer."""


class ServiceUnreachable(ScoringError):
    """No scoring service answers at the URL a client command was given."""
