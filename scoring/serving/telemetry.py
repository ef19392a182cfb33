"""Prometheus metrics of one service process, collected on scrape from the live objects."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from features.readers import fast_redis_reader
from scoring.serving.reload import ModelWatcher
from scoring.serving.service import ScoringService


class ServiceCollector(Collector):
    """Served versions (champion, canary, shadow), micro-batching, shadow and log counters."""

    def __init__(self, service: ScoringService) -> None:
        self._service = service

    def collect(self) -> Iterator[Metric]:
        """Yield the current values."""
        served = GaugeMetricFamily(
            "scorer_model_served_version", "Champion version being served", labels=["model"]
        )
        canary = GaugeMetricFamily(
            "scorer_model_canary_version", "Canary version being served", labels=["model"]
        )
        weight = GaugeMetricFamily(
            "scorer_model_canary_weight", "Share of requests the canary answers", labels=["model"]
        )
        shadow = GaugeMetricFamily(
            "scorer_model_shadow_version", "Shadow version scoring unseen", labels=["model"]
        )
        for name, serving in self._service.models.served.items():
            served.add_metric([name], serving.champion.version)
            if serving.canary is not None:
                canary.add_metric([name], serving.canary.version)
                weight.add_metric([name], serving.canary_weight)
            if serving.shadow is not None:
                shadow.add_metric([name], serving.shadow.version)
        yield from (served, canary, weight, shadow)
        yield CounterMetricFamily(
            "scorer_shadow_failures", "Shadow scorings that failed (the answers were not affected)",
            value=self._service.shadow_failures,
        )  # fmt: skip
        yield CounterMetricFamily(
            "scorer_shadow_dropped", "Shadow scorings skipped because too many were in flight",
            value=self._service.shadows_dropped,
        )  # fmt: skip
        yield from self._feature_gaps()
        circuit = self._service.circuit
        yield GaugeMetricFamily(
            "scorer_online_store_circuit_open",
            "1 while the online store's circuit is open (reads refused at once), else 0",
            value=1 if circuit is not None and circuit.is_open else 0,
        )
        batcher = self._service.batcher
        if batcher is not None:
            yield CounterMetricFamily(
                "scorer_microbatch_batches", "Computations run by the micro-batcher",
                value=batcher.batches,
            )  # fmt: skip
            yield CounterMetricFamily(
                "scorer_microbatch_requests", "Requests answered through the micro-batcher",
                value=batcher.requests,
            )  # fmt: skip
        logs = [
            ("predictions", self._service.prediction_log),
            ("labels", self._service.feedback_log),
        ]
        rows = CounterMetricFamily(
            "scorer_log_rows", "Rows by log and outcome", labels=["log", "outcome"]
        )
        buffered = GaugeMetricFamily(
            "scorer_log_rows_buffered", "Rows not yet written", labels=["log"]
        )
        errors = CounterMetricFamily(
            "scorer_log_write_errors", "Failed file writes", labels=["log"]
        )
        buffered_bytes = GaugeMetricFamily(
            "scorer_log_bytes_buffered", "Bytes of rows not yet written", labels=["log"]
        )
        spool_errors = CounterMetricFamily(
            "scorer_log_spool_errors", "Appends the spool could not take", labels=["log"]
        )
        for name, log in logs:
            if log is None:
                continue
            c = log.writer.counters()
            rows.add_metric([name, "appended"], c.rows_appended)
            rows.add_metric([name, "written"], c.rows_written)
            rows.add_metric([name, "dropped"], c.rows_dropped)
            rows.add_metric([name, "recovered"], c.rows_recovered)
            buffered.add_metric([name], c.rows_buffered)
            errors.add_metric([name], c.write_errors)
            buffered_bytes.add_metric([name], c.bytes_buffered)
            spool_errors.add_metric([name], c.spool_errors)
        yield rows
        yield buffered
        yield errors
        yield buffered_bytes
        yield spool_errors

    def _feature_gaps(self) -> Iterator[Metric]:
        """Whether the online store holds what was loaded; rows without it; stale features."""
        reader = fast_redis_reader(self._service.reader)
        if reader is not None and reader.loaded_marker.last is not None:
            yield GaugeMetricFamily(
                "scorer_online_store_loaded",
                "1 while the online store holds the marker materialization leaves, 0 once lost",
                value=int(reader.loaded_marker.last),
            )  # fmt: skip
        gaps = self._service.gaps
        empty = CounterMetricFamily(
            "scorer_rows_without_stored_features",
            "Rows scored with none of their stored (not on-demand) features",
            labels=["model"],
        )
        for model, count in gaps.rows_without_stored.items():
            empty.add_metric([model], count)
        yield empty
        stale = CounterMetricFamily(
            "scorer_features_stale",
            "Feature values older than their view's ttl, scored as missing",
            labels=["model", "feature"],
        )
        for (model, feature), count in gaps.stale.items():
            stale.add_metric([model, feature], count)
        yield stale


class ModelLoadCollector(Collector):
    """Promoted versions this worker could not load (it serves what it served before)."""

    def __init__(self, watcher: ModelWatcher) -> None:
        self._watcher = watcher

    def collect(self) -> Iterator[Metric]:
        """Yield the version each failing alias names (0: the alias file is unreadable)."""
        failed = GaugeMetricFamily(
            "scorer_model_load_failed",
            "Version an alias names that cannot be loaded (0: the alias file is unreadable)",
            labels=["model", "alias"],
        )
        for failure in self._watcher.failures.values():
            failed.add_metric([failure.model, failure.alias], failure.version or 0)
        yield failed
