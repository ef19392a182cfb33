"""The service's Prometheus metrics, kept as they happen; one set per process.

Outside ``scorer serve`` (tests, an app built in-process) they live in their own registry.
Under ``scorer serve`` they are prometheus_client's multiprocess values: every worker writes
its own file in the serve's metrics directory and ``/metrics`` adds them all up (see
:mod:`scoring.serving.worker_metrics`). Their names are a contract: dashboards and alert
rules query them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from scoring.serving.worker_metrics import use_multiprocess_values, use_process_values

REQUEST_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
"""Seconds: a healthy request takes about a millisecond, its budget a few hundred."""

ONLINE_READ_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip
"""Seconds: a read from Redis takes a fraction of a millisecond."""

UNKNOWN = ""
"""The model or version label of a request that named no model the registry serves: a name a
client made up never becomes a label value, so the number of series stays bounded."""


class ServiceMetrics:
    """Request counts and latencies, online reads, feature gaps, shadows, batching, logs."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        """Create the metrics in ``registry``; None under multiprocess mode (files hold them)."""
        self.registry = registry
        """The registry holding them; None when they are prometheus_client's multiprocess values."""
        r = registry
        self.requests = Counter(
            "scorer_requests", "Scoring requests answered, by model, version, route and status",
            ["model", "version", "route", "status"], registry=r,
        )  # fmt: skip
        self.request_duration = Histogram(
            "scorer_request_duration_seconds",
            "Time from a scoring request's arrival in its route to its answer, by model",
            ["model"], buckets=REQUEST_BUCKETS, registry=r,
        )  # fmt: skip
        self.online_read = Histogram(
            "scorer_online_read_duration_seconds", "Time of one read from the online store",
            buckets=ONLINE_READ_BUCKETS, registry=r,
        )  # fmt: skip
        self.features_missing = Counter(
            "scorer_features_missing",
            "Features scored as missing (absent from the store, or stale), by model and feature",
            ["model", "feature"], registry=r,
        )  # fmt: skip
        self.features_stale = Counter(
            "scorer_features_stale",
            "Feature values older than their view's ttl, scored as missing",
            ["model", "feature"], registry=r,
        )  # fmt: skip
        self.rows_without_stored = Counter(
            "scorer_rows_without_stored_features",
            "Rows scored with none of their stored (not on-demand) features",
            ["model"], registry=r,
        )  # fmt: skip
        # The live* modes leave out workers that have exited (see worker_metrics).
        self.circuit_open = Gauge(
            "scorer_online_store_circuit_open",
            "1 while a worker's circuit to the online store is open (reads refused at once)",
            registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        self.shadow_failures = Counter(
            "scorer_shadow_failures", "Shadow scorings that failed (the answers were not affected)",
            registry=r,
        )  # fmt: skip
        self.shadow_dropped = Counter(
            "scorer_shadow_dropped", "Shadow scorings skipped because too many were in flight",
            registry=r,
        )  # fmt: skip
        self.microbatch_batches = Counter(
            "scorer_microbatch_batches", "Computations run by the micro-batcher", registry=r
        )
        self.microbatch_requests = Counter(
            "scorer_microbatch_requests", "Requests answered through the micro-batcher",
            registry=r,
        )  # fmt: skip
        self.log_rows = Counter(
            "scorer_log_rows", "Rows by log and outcome", ["log", "outcome"], registry=r
        )
        self.log_write_errors = Counter(
            "scorer_log_write_errors", "Failed file writes", ["log"], registry=r
        )
        self.log_spool_errors = Counter(
            "scorer_log_spool_errors", "Appends the spool could not take", ["log"], registry=r
        )
        self.log_rows_buffered = Gauge(
            "scorer_log_rows_buffered", "Rows not yet written", ["log"],
            registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.log_bytes_buffered = Gauge(
            "scorer_log_bytes_buffered", "Bytes of rows not yet written", ["log"],
            registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.canary_rollbacks = Counter(
            "scorer_canary_rollbacks",
            "Canaries the canary guard removed, by model and the rule that tripped",
            ["model", "reason"], registry=r,
        )  # fmt: skip
        # Children by label values: labels() validates and locks on every call.
        self._requests: dict[tuple[str, str, str, int], Counter] = {}
        self._durations: dict[str, Histogram] = {}
        self._missing: dict[tuple[str, str], Counter] = {}
        self._stale: dict[tuple[str, str], Counter] = {}

    def request(self, model: str, version: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its duration (a few microseconds).

        ``model`` and ``version`` must be served ones (or :data:`UNKNOWN`), ``route`` one of the
        service's routes: the caller keeps the label values bounded.
        """
        key = (model, version, route, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = self.requests.labels(model, version, route, status)
        counter.inc()
        duration = self._durations.get(model)
        if duration is None:
            duration = self._durations[model] = self.request_duration.labels(model)
        duration.observe(seconds)

    def missing_features(self, model: str, names: Sequence[str], counts: Sequence[int]) -> None:
        """Count some rows' missing values, per feature (``counts`` in ``names``' order)."""
        children = self._missing
        for name, count in zip(names, counts, strict=True):
            if count:
                child = children.get((model, name))
                if child is None:
                    child = children[model, name] = self.features_missing.labels(model, name)
                child.inc(count)

    def stale_features(self, model: str, names: Sequence[str], counts: Sequence[int]) -> None:
        """Count some rows' stale values, per feature (``counts`` in ``names``' order)."""
        children = self._stale
        for name, count in zip(names, counts, strict=True):
            if count:
                child = children.get((model, name))
                if child is None:
                    child = children[model, name] = self.features_stale.labels(model, name)
                child.inc(count)

    def canary_rollback(self, model: str, reason: str) -> None:
        """Count one canary the guard removed (``reason``: one of the guard's rules)."""
        self.canary_rollbacks.labels(model, reason).inc()


def service_metrics(metrics_dir: Path | None) -> ServiceMetrics:
    """New metrics for a service: in ``metrics_dir``'s files when set, else in memory."""
    if metrics_dir is not None:
        use_multiprocess_values(metrics_dir)
        return ServiceMetrics(None)
    use_process_values()
    return ServiceMetrics(CollectorRegistry())
