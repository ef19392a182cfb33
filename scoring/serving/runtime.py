"""The scoring service composed from the settings, opened and closed in order, for any front.

``scorer serve``'s web app and ``scorer stream`` both score through what this opens: the
feature store and its reader, the models and their watcher, the logs, the micro-batcher.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

from features.circuit import CircuitBreaker
from features.push import FeaturePusher
from features.readers import make_online_reader
from features.store import open_feature_store
from scoring.log.label_log import FeedbackLog
from scoring.log.prediction_log import PredictionLog
from scoring.model.registry import ModelRegistry
from scoring.serving.guard_rules import GuardPolicy
from scoring.serving.reload import ModelWatcher
from scoring.serving.served import load_served
from scoring.serving.service import ScoringService
from scoring.serving.service_metrics import service_metrics
from scoring.serving.telemetry import Telemetry
from scoring.settings import Settings

log = logging.getLogger(__name__)

SHADOW_DRAIN_S = 10.0
"""At shutdown, how long shadow scorings still running may take to finish and be logged."""

GUARD_STOP_S = 5.0
"""At shutdown, how long a canary removal the guard started may take to finish."""

GC_YOUNG_THRESHOLD = 10_000
"""Allocations between young-generation collections while serving (Python's default: 700)."""


@dataclass(frozen=True)
class ServingRuntime:
    """The open parts of a scoring service: what a front (HTTP, a stream) scores through."""

    service: ScoringService
    watcher: ModelWatcher
    telemetry: Telemetry
    pusher: FeaturePusher
    """Writes rows to the feature store's push sources (``/push``, the push stream)."""


@asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[ServingRuntime]:
    """Open the feature store, load the champion models, start the logs; close in reverse.

    On exit every row that was scored is in the log: the callers have stopped scoring by then.
    """
    registry = ModelRegistry(settings.models_dir)
    models = load_served(registry, settings.default_model)
    if not models.champions:
        log.warning("no model has a champion version in %s", settings.models_dir)
    store = open_feature_store(settings.feature_repo, settings.online_store)
    await store.initialize()
    circuit = (
        CircuitBreaker(settings.circuit_failures, settings.circuit_cooldown_s)
        if settings.circuit_failures > 0
        else None
    )
    reader = make_online_reader(
        store, settings.online_timeout_s, settings.stale_features == "enforce", circuit
    )
    prediction_log = PredictionLog(settings) if settings.log_enabled else None
    feedback_log = FeedbackLog(settings) if settings.log_enabled else None
    for started in (prediction_log, feedback_log):
        if started is not None:
            started.start()
    service = ScoringService(
        registry,
        reader,
        models,
        prediction_log,
        feedback_log,
        batching_max_rows=settings.batching_max_rows,
        batching_request_rows=settings.batching_request_rows,
        reject_all_missing=settings.all_missing == "reject",
        budget_s=settings.online_timeout_s,
        circuit=circuit,
        metrics=service_metrics(settings.metrics_dir),
        guard=guard_policy(settings),
    )
    if service.batcher is not None:
        service.batcher.start()
    watcher = ModelWatcher(service, settings.default_model, settings.reload_interval_s)
    watcher.start()
    telemetry = Telemetry(service, watcher, settings.metrics_dir)
    telemetry.start()
    await service.warm_up()
    try:
        pusher = FeaturePusher(store, settings.max_batch_rows)
        yield ServingRuntime(service, watcher, telemetry, pusher)
    finally:
        # Reverse order of opening. The front has finished what was in flight by now, so
        # closing the logs writes every row that was answered.
        await watcher.stop()
        if service.guard is not None:
            await service.guard.stop(GUARD_STOP_S)  # a removal under way gets its history line
        await service.drain_shadows(SHADOW_DRAIN_S)  # their rows go to the log too
        if service.batcher is not None:
            await service.batcher.stop()
        for stopping in (feedback_log, prediction_log):
            if stopping is not None:
                counters = await asyncio.to_thread(stopping.close)
                log.info("%s closed: %s", stopping.writer.root, counters)
        await telemetry.stop()  # after the logs: their last counts are published
        await reader.close()


def guard_policy(settings: Settings) -> GuardPolicy | None:
    """The canary guard's policy from ``SCORER_GUARD_*``; None when it is turned off."""
    if not settings.guard_enabled:
        return None
    return GuardPolicy(
        window=settings.guard_window,
        min_samples=settings.guard_min_samples,
        error_rate_margin=settings.guard_error_rate_margin,
        error_rate_floor=settings.guard_error_rate_floor,
        latency_factor=settings.guard_latency_factor,
        latency_slack_s=settings.guard_latency_slack_s,
        score_psi=settings.guard_score_psi,
        missing_rate_margin=settings.guard_missing_rate_margin,
    )


@contextmanager
def steady_gc() -> Iterator[None]:
    """Meanwhile, the garbage collector tuned for a process that scores and little else."""
    # Everything loaded so far lives as long as the process. Frozen, it is left out of
    # the collector's full passes, which otherwise stall the loop for 100 ms and more
    # every few thousand requests (Feast, pandas and pyarrow hold a million objects).
    gc.collect()
    gc.freeze()
    # Nearly every object a request makes is freed by its reference count, but enough
    # are alive at once that the default threshold (700) ran a young collection every
    # 18 requests: 6 to 8 us a request, 2 to 3% of a worker at saturation. At 10,000
    # one runs every 10,000 requests or so; cycles are still collected.
    previous_thresholds = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *previous_thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous_thresholds)
