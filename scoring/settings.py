"""All service settings, read once from the environment (prefix ``SCORER_``)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_RETENTION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_RETENTION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

BODY_BYTES_PER_ROW = 1024
"""Request body bytes allowed per row of ``max_batch_rows`` when ``max_body_bytes`` is unset."""


class Settings(BaseSettings):
    """Settings of the scoring service and its jobs; build one and pass it in."""

    model_config = SettingsConfigDict(env_prefix="SCORER_", extra="ignore")

    feature_repo: Path = Path("feature_repo")
    """The Feast repository (the folder holding ``feature_store.yaml``)."""

    data_dir: Path = Path("data")
    """Where the model registry, prediction logs and drift reports live."""

    online_store: str = "127.0.0.1:6379"
    """Feast Redis connection string of the online store (``host:port[,key=value...]``).

    The demo's ``feature_store.yaml`` reads it as ``${SCORER_ONLINE_STORE}``; other repos
    may ignore it and configure their online store however they like."""

    default_model: str | None = None
    """Model scored when a request names none; unset means the only model in the registry."""

    host: str = "127.0.0.1"
    """Address ``scorer serve`` binds to."""

    port: int = Field(default=8000, ge=0, le=65535)
    """Port ``scorer serve`` listens on."""

    workers: int | None = Field(default=None, ge=1)
    """Number of uvicorn worker processes; unset means one per CPU core."""

    log_format: Literal["text", "json"] = "text"
    """How every process writes its log lines on stderr: ``text`` for people, or ``json``,
    one JSON object a line with ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``,
    ``request_id`` while a request is served, and ``exc_info`` with an exception."""

    access_log: bool = False
    """Log a line per HTTP request (uvicorn's access log): off by default, for speed."""

    metrics_dir: Path | None = None
    """Where the workers of one service keep their metrics, so that ``/metrics`` counts them
    all (prometheus_client's multiprocess mode). ``scorer serve`` sets it for its workers, to
    a fresh folder under ``data_dir`` for each run; unset, each process counts its own."""

    max_batch_rows: int = Field(default=5000, ge=1)
    """Largest number of entity rows accepted in one scoring request (413 above)."""

    max_body_bytes: int | None = Field(default=None, ge=1)
    """Largest request body accepted, in bytes, counted while it is read (413 above); unset
    means 1 KiB per row of ``max_batch_rows`` (5 MiB by default), see ``body_limit_bytes``."""

    body_timeout_s: float = Field(default=10.0, gt=0)
    """Longest a request body may take to arrive once its headers have (408 after): a client
    trickling its body must not hold a connection and its task for ever."""

    header_timeout_s: float = Field(default=10.0, gt=0)
    """Longest a request's headers may take to arrive; the connection is closed after."""

    max_header_bytes: int = Field(default=65_536, ge=1024)
    """Largest request line and headers accepted, in bytes (431, or 414 for the line, above):
    64 KiB, about Envoy's default; a client's headers are a few hundred bytes."""

    shutdown_timeout_s: int = Field(default=10, ge=1)
    """On SIGTERM, how long requests in flight may take to finish before they are cancelled
    (``scorer serve`` then still writes every answered row to the log)."""

    batching_max_rows: int = Field(default=256, ge=0)
    """Largest micro-batch of concurrent small requests (0 turns micro-batching off)."""

    batching_request_rows: int = Field(default=16, ge=0)
    """Requests with at most this many rows may share a micro-batch; larger ones run alone."""

    online_timeout_s: float = Field(default=0.25, gt=0)
    """A scoring request's time budget, end to end from its arrival: queued behind other
    requests and reading the online store. Past it the request answers 503. A healthy read
    takes about a millisecond; a payment's fraud check must answer within a few hundred."""

    circuit_failures: int = Field(default=5, ge=0)
    """Failed online reads in a row that open the circuit: reads then answer 503 at once
    instead of each waiting out its budget (0 turns the circuit breaker off)."""

    circuit_cooldown_s: float = Field(default=1.0, gt=0)
    """How long an open circuit refuses reads before one read probes the store again."""

    retry_after_s: int = Field(default=5, ge=1)
    """``Retry-After`` sent with a 503 when the online store is unavailable."""

    log_enabled: bool = True
    """Write every scored row to the prediction log."""

    log_flush_rows: int = Field(default=10_000, ge=1)
    """The log writer flushes once this many rows are buffered..."""

    log_flush_interval_s: float = Field(default=1.0, gt=0)
    """...or this long after the last flush, whichever comes first."""

    log_max_buffer_rows: int = Field(default=500_000, ge=1)
    """Rows held in memory at most (when the disk fails); further rows are dropped and counted."""

    log_max_buffer_bytes: int = Field(default=256 * 1024 * 1024, ge=1)
    """Bytes of rows held in memory at most by each log of a worker (Arrow's size, estimated
    by model until its rows are built); further rows are dropped and counted, like rows over
    ``log_max_buffer_rows``."""

    reload_interval_s: float = Field(default=2.0, gt=0)
    """How often a running service checks the registry's aliases for a promotion."""

    guard_enabled: bool = True
    """While a canary serves, each worker compares it with the champion and removes the canary
    alias when one of the guard's rules trips (see :mod:`scoring.serving.guard`)."""

    guard_window: int = Field(default=2000, ge=10)
    """Requests, and rows, the guard keeps per version (the latest ones), in each worker."""

    guard_min_samples: int = Field(default=500, ge=10)
    """Requests (error rate, latency) and rows (scores, missing features) each version must have
    in the window before any rule may trip: fewer are noise."""

    guard_error_rate_margin: float = Field(default=0.02, ge=0.0, le=1.0)
    """Trip when the canary's share of failed requests is above the champion's by more than
    this (and above ``guard_error_rate_floor``)."""

    guard_error_rate_floor: float = Field(default=0.01, ge=0.0, le=1.0)
    """The canary's failed share that never trips, whatever the champion's (0.01: 1%)."""

    guard_latency_factor: float = Field(default=2.0, ge=1.0)
    """Trip when the canary's p99 latency is above this times the champion's..."""

    guard_latency_slack_s: float = Field(default=0.025, ge=0.0)
    """...plus this many seconds: a p99 of a few hundred requests is noisy at a millisecond."""

    guard_score_psi: float = Field(default=0.5, gt=0.0)
    """Trip when the PSI of the canary's scores against the champion's, in the same window
    (bins at the champion's score deciles), is above this. Two honest models differ more
    than two samples of one (see :mod:`scoring.serving.guard_rules` for the figures)."""

    guard_missing_rate_margin: float = Field(default=0.1, ge=0.0, le=1.0)
    """Trip when the canary's share of missing feature values is above the champion's by more
    than this (0.1: ten points)."""

    redis_url: str | None = None
    """Redis the service itself uses (job locks); unset means the online store's Redis."""

    schedule_materialize: str = "every 1h"
    """When ``materialize`` runs: ``every <n>s|m|h|d``, a crontab line, or empty for never."""

    schedule_drift: str = "every 1h"
    """When the drift check runs for every model (it retrains when the check says so)."""

    schedule_retrain: str = ""
    """Optional fixed retraining schedule, besides drift-triggered retraining."""

    drift_window: str = "24h"
    """How far back the scheduled drift check looks."""

    report_retention: timedelta | None = timedelta(days=90)
    """How long a model's drift reports are kept (``30d``, ``12h``): each drift run deletes
    older ones (JSON and HTML) and its index follows; empty keeps every report. 90 days show a
    quarter's trend and bound the folder: at the hourly default, about 2,200 runs of 30-60 KB
    each (100 MB or so a model)."""

    retrain_cooldown: str = "6h"
    """After a retrain, drift does not trigger another one for this long (it warns instead)."""

    promote_margin: float = Field(default=0.005, ge=0.0)
    """A retrained candidate is promoted unless its holdout AUC is worse than the champion's by
    more than this."""

    job_misfire_grace_s: int = Field(default=600, ge=1)
    """A scheduled run that could not start on time still runs if this late at most."""

    job_lock_timeout_s: int = Field(default=30, ge=1)
    """How long a job's Redis lock outlives its holder: a running job renews it every third of
    this, so a crashed scheduler blocks the job for this long at most."""

    all_missing: Literal["score", "reject"] = "score"
    """A request whose rows have no stored feature at all (every feature read from the online
    store is missing or stale; on-demand features do not count): ``score`` it anyway, or
    ``reject`` it with a 503. Such rows are counted and warned about either way."""

    stale_features: Literal["enforce", "serve"] = "enforce"
    """``enforce``: a stored value older than its feature view's ``ttl`` is scored as missing
    (and listed in ``stale``); ``serve``: values are served however old, as Feast does."""

    stream_requests: str = "scorer:requests"
    """The Redis Stream ``scorer stream`` scores; an entry's ``body`` holds a ``/score`` body."""

    stream_results: str = "scorer:results"
    """Where ``scorer stream`` writes each result: ``event_id`` (the entry's id) and ``body``."""

    stream_dead: str = "scorer:dead"
    """Where entries that cannot be scored go: ``event_id`` and ``error`` (problem+json)."""

    stream_push: str | None = None
    """A second stream ``scorer stream`` consumes, whose entries' ``body`` is a ``/push`` body;
    unset: none."""

    stream_group: str = "scorer"
    """The consumer group every ``scorer stream`` process reading the streams shares."""

    stream_consumer: str | None = None
    """This process's name in the group; unset means ``<host>-<pid>``. A name must not be
    shared by two live processes (each would take the other's pending entries for its own)."""

    stream_batch_size: int = Field(default=256, ge=1, le=10_000)
    """Entries read at most at once (``XREADGROUP COUNT``), scored together."""

    stream_block_ms: int = Field(default=100, ge=1)
    """How long a read waits for new entries (``XREADGROUP BLOCK``) before looking again for
    entries to claim and for a stop."""

    stream_maxlen: int = Field(default=1_000_000, ge=1)
    """Entries kept at about most in the results and dead-letter streams (``XADD MAXLEN ~``)."""

    stream_claim_idle_s: float = Field(default=30.0, gt=0)
    """An entry delivered this long ago and still not acknowledged (its consumer died, or it
    failed for a reason that may pass) is claimed and scored again (``XAUTOCLAIM``)."""

    stream_max_deliveries: int = Field(default=5, ge=1)
    """Deliveries of one entry at most: one delivered this many times without a result (it
    crashed its consumers, or kept failing) goes to the dead-letter stream instead."""

    admin_key: SecretStr | None = None
    """Bearer key required by admin endpoints; admin calls are refused when unset."""

    admin_key_file: Path | None = None
    """File holding the admin key (used when ``admin_key`` is unset)."""

    @field_validator("report_retention", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> Any:
        """``30d``, ``12h``, ``45m``, ``90s`` as a duration; empty keeps every report."""
        if isinstance(value, timedelta) and value <= timedelta(0):
            raise ValueError(f"SCORER_REPORT_RETENTION={value} must be positive")
        if not isinstance(value, str):
            return value
        if not value.strip():
            return None
        match = _RETENTION.match(value)
        if match is None or float(match.group(1)) <= 0:
            raise ValueError(
                f"SCORER_REPORT_RETENTION={value!r} is not a duration like 30d, 12h or 45m "
                "(empty keeps every report)"
            )
        return timedelta(**{_RETENTION_UNITS[match.group(2)]: float(match.group(1))})

    def resolved_admin_key(self) -> str | None:
        """The admin key from ``admin_key`` or, failing that, ``admin_key_file``."""
        if self.admin_key is not None:
            return self.admin_key.get_secret_value() or None
        if self.admin_key_file is not None:
            return self.admin_key_file.read_text().strip() or None
        return None

    def body_limit_bytes(self) -> int:
        """``max_body_bytes``, or 1 KiB per row of ``max_batch_rows`` when that is unset.

        A row of the demo (two join keys and an amount) is about 70 bytes of JSON: 1 KiB a
        row leaves room for wider feature services (more request fields, long string keys)
        and pretty-printed bodies, and the limit follows ``max_batch_rows`` when that is raised.
        """
        return self.max_body_bytes or self.max_batch_rows * BODY_BYTES_PER_ROW

    def online_store_address(self) -> tuple[str, int]:
        """Host and port of the online store's (first) Redis node."""
        host, _, port = self.online_store.split(",")[0].rpartition(":")
        return host or "127.0.0.1", int(port or 6379)

    def service_redis_url(self) -> str:
        """``redis_url``, or a URL to the online store's Redis when that is unset."""
        if self.redis_url:
            return self.redis_url
        host, port = self.online_store_address()
        return f"redis://{host}:{port}/0"

    @property
    def models_dir(self) -> Path:
        """Root of the model registry."""
        return self.data_dir / "models"


def variable_name(field: str) -> str:
    """The environment variable that sets the settings field ``field``: ``SCORER_<FIELD>``."""
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()
