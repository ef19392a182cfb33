"""One table from the service's errors to HTTP status and problem+json bodies (RFC 9457).

Framework-free: the web layer answers with these bodies, and ``scorer stream`` writes the
same bodies to its dead-letter stream, so a client reads one error format whichever way in.
"""

from __future__ import annotations

from typing import Any

from features.errors import (
    FeatureServiceNotFound,
    FeatureStoreError,
    InvalidPush,
    OnlineStoreUnavailable,
    PushSourceNotFound,
    PushTooLarge,
)
from scoring.errors import (
    AliasMoved,
    BatchTooLarge,
    DeadlineExceeded,
    FeaturesAllMissing,
    Forbidden,
    InvalidRequest,
    LogDisabled,
    LogUnavailable,
    ModelLoadError,
    ModelNotFound,
    RegistryBusy,
    RegistryCorrupt,
    RegistryUnwritable,
    ScoringError,
    Unauthorized,
    VersionNotLoadable,
    clipped,
)
from scoring.serving.request import RequestProblems

DETAIL_LIMIT = 2000
"""Characters of ``detail`` at most: whatever a message quotes, an answer stays small."""

LISTED_ERRORS = 20
"""Validation errors listed at most in one answer."""

# Most specific first: the first matching row wins.
STATUS: list[tuple[type[Exception], int, str]] = [
    (InvalidRequest, 422, "Invalid request"),
    (BatchTooLarge, 413, "Batch too large"),
    (PushTooLarge, 413, "Batch too large"),
    (PushSourceNotFound, 422, "Push source not found"),
    (InvalidPush, 422, "Invalid push"),
    (ModelNotFound, 404, "Model not found"),
    (Unauthorized, 401, "Unauthorized"),
    (Forbidden, 403, "Forbidden"),
    (OnlineStoreUnavailable, 503, "Online store unavailable"),
    (DeadlineExceeded, 503, "Deadline exceeded"),
    (FeatureServiceNotFound, 503, "Feature service not registered"),
    (VersionNotLoadable, 422, "Version cannot be loaded"),
    (ModelLoadError, 503, "Model unavailable"),
    (RegistryCorrupt, 503, "Registry file unreadable"),
    (RegistryBusy, 503, "Registry busy"),
    (AliasMoved, 409, "Alias moved"),
    (RegistryUnwritable, 503, "Registry not writable"),
    (FeatureStoreError, 503, "Feature store error"),
    (LogUnavailable, 503, "Log unavailable"),
    (FeaturesAllMissing, 503, "Online features missing"),
    (LogDisabled, 501, "Log disabled"),
    (ScoringError, 500, "Scoring error"),
]


def status_of(exc: Exception) -> tuple[int, str]:
    """HTTP status and title for one of our errors."""
    return next((s, t) for error_type, s, t in STATUS if isinstance(exc, error_type))


def problem_body(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """A problem+json body, its ``detail`` clipped to :data:`DETAIL_LIMIT`."""
    detail = clipped(detail, DETAIL_LIMIT)
    return {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}


def problem_of(exc: ScoringError | FeatureStoreError) -> dict[str, Any]:
    """The problem+json body the service answers ``exc`` with."""
    status, title = status_of(exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, RequestProblems):
        extra = {"errors": exc.problems}
    elif isinstance(exc, InvalidPush) and exc.problems:
        extra = {"errors": exc.problems[:LISTED_ERRORS]}
    return problem_body(status, title, str(exc), **extra)
