"""What ``/metrics`` serves: the metrics of every worker, and what this one serves.

Requests, reads and feature gaps are counted as they happen (:mod:`.service_metrics`). The
micro-batcher, the logs and the circuit breaker keep their own counts, cheaper on the request
path: they are copied into the metrics every :data:`PUBLISH_INTERVAL_S` and before a scrape.
What is served and what failed to load describe the registry every worker follows (each
within ``SCORER_RELOAD_INTERVAL_S``), so they are read from the answering worker's live objects:
during a reload, workers may legitimately differ for that long.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from features.readers import fast_redis_reader
from scoring.serving.reload import ModelWatcher
from scoring.serving.service import ScoringService
from scoring.serving.worker_metrics import all_workers, mark_worker_exited

PUBLISH_INTERVAL_S = 1.0
"""How often a worker copies the counts its objects keep into the metrics every worker sees."""


class Telemetry:
    """The service's metrics in one process; ``metrics_dir`` set under ``scorer serve``."""

    def __init__(
        self,
        service: ScoringService,
        watcher: ModelWatcher,
        metrics_dir: Path | None,
    ) -> None:
        self._service = service
        self._metrics_dir = metrics_dir
        self._live = [ServiceCollector(service), ModelLoadCollector(watcher)]
        self._published: dict[tuple[int, tuple[str, ...]], float] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Publish the objects' counts periodically, for the scrapes other workers answer."""
        if self._metrics_dir is not None:
            self._task = asyncio.create_task(self._publish_periodically())

    async def stop(self) -> None:
        """Publish once more and leave the live gauges (the worker is shutting down)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.publish()
        if self._metrics_dir is not None:
            mark_worker_exited(self._metrics_dir)

    async def _publish_periodically(self) -> None:
        while True:
            await asyncio.sleep(PUBLISH_INTERVAL_S)
            self.publish()

    def render(self, *files: Collector) -> bytes:
        """Every worker's metrics, this one's state, and ``files``' (the same for every worker)."""
        self.publish()
        live = CollectorRegistry(auto_describe=False)
        for collector in (*self._live, *files):
            live.register(collector)
        if self._metrics_dir is not None:
            counted = all_workers(self._metrics_dir)
        else:
            assert self._service.metrics.registry is not None
            counted = self._service.metrics.registry
        return generate_latest(counted) + generate_latest(live)

    def publish(self) -> None:
        """Copy the counts the micro-batcher, the logs and the circuit keep into the metrics."""
        service = self._service
        metrics = service.metrics
        circuit = service.circuit
        metrics.circuit_open.set(1 if circuit is not None and circuit.is_open else 0)
        batcher = service.batcher
        if batcher is not None:
            self._add(metrics.microbatch_batches, (), batcher.batches)
            self._add(metrics.microbatch_requests, (), batcher.requests)
        logs = (("predictions", service.prediction_log), ("labels", service.feedback_log))
        for name, log in logs:
            if log is None:
                continue
            c = log.writer.counters()
            for outcome, value in (
                ("appended", c.rows_appended),
                ("written", c.rows_written),
                ("dropped", c.rows_dropped),
                ("recovered", c.rows_recovered),
            ):
                self._add(metrics.log_rows, (name, outcome), value)
            self._add(metrics.log_write_errors, (name,), c.write_errors)
            self._add(metrics.log_spool_errors, (name,), c.spool_errors)
            metrics.log_rows_buffered.labels(name).set(c.rows_buffered)
            metrics.log_bytes_buffered.labels(name).set(c.bytes_buffered)

    def _add(self, counter: Counter, labels: tuple[str, ...], total: float) -> None:
        """Bring ``counter`` up to ``total``, a count kept elsewhere that only grows."""
        key = (id(counter), labels)
        delta = total - self._published.get(key, 0.0)
        if delta > 0:
            (counter.labels(*labels) if labels else counter).inc(delta)
            self._published[key] = total


class ServiceCollector(Collector):
    """Served versions (champion, canary, shadow) and the online store's loaded marker."""

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
            "scorer_model_canary_weight", "Share of entities the canary answers", labels=["model"]
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
        reader = fast_redis_reader(self._service.reader)
        if reader is not None and reader.loaded_marker.last is not None:
            yield GaugeMetricFamily(
                "scorer_online_store_loaded",
                "1 while the online store holds the marker materialization leaves, 0 once lost",
                value=int(reader.loaded_marker.last),
            )  # fmt: skip


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
