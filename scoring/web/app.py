"""The application factory ``create_app(settings)``; ``uvicorn --factory`` runs ``app_from_env``."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypedDict

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from features.circuit import CircuitBreaker
from features.push import FeaturePusher
from features.readers import make_online_reader
from features.store import open_feature_store
from scoring.log.label_log import FeedbackLog
from scoring.log.prediction_log import PredictionLog
from scoring.model.registry import ModelRegistry
from scoring.serving.catalog import ModelCatalog
from scoring.serving.job_metrics import JobMetricsCollector
from scoring.serving.reload import ModelWatcher
from scoring.serving.service import ScoringService, load_served
from scoring.serving.service_metrics import service_metrics
from scoring.serving.telemetry import Telemetry
from scoring.settings import Settings
from scoring.web.limits import BodyLimits
from scoring.web.problems import install_problem_handlers
from scoring.web.routes import SCORE_OPERATION, router

log = logging.getLogger(__name__)

GC_YOUNG_THRESHOLD = 10_000
"""Allocations between young-generation collections while serving (Python's default: 700)."""

SHADOW_DRAIN_S = 10.0
"""At shutdown, how long shadow scorings still running may take to finish and be logged."""


class State(TypedDict):
    """What the lifespan hands every request (``request.state``)."""

    settings: Settings
    service: ScoringService
    catalog: ModelCatalog
    watcher: ModelWatcher
    job_metrics: JobMetricsCollector
    telemetry: Telemetry
    pusher: FeaturePusher
    admin_key: str | None


def create_app(settings: Settings) -> FastAPI:
    """Build the app; the lifespan opens the feature store and loads the champion models."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
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
        metrics = service_metrics(settings.metrics_dir)
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
            metrics=metrics,
        )
        if service.batcher is not None:
            service.batcher.start()
        watcher = ModelWatcher(service, settings.default_model, settings.reload_interval_s)
        watcher.start()
        telemetry = Telemetry(service, watcher, settings.metrics_dir)
        telemetry.start()
        await service.warm_up()
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
        log.info(
            "serving %s",
            ", ".join(f"{n} {s.aliases()}" for n, s in models.served.items()) or "no models",
        )
        try:
            yield {
                "settings": settings,
                "service": service,
                "catalog": ModelCatalog(service),
                "watcher": watcher,
                "job_metrics": JobMetricsCollector(settings.data_dir),
                "telemetry": telemetry,
                "pusher": FeaturePusher(store, settings.max_batch_rows),
                "admin_key": settings.resolved_admin_key(),
            }
        finally:
            # Reverse order of opening. uvicorn has finished in-flight requests by now, so
            # closing the logs writes every row that was answered.
            await watcher.stop()
            await service.drain_shadows(SHADOW_DRAIN_S)  # their rows go to the log too
            if service.batcher is not None:
                await service.batcher.stop()
            for stopping in (feedback_log, prediction_log):
                if stopping is not None:
                    counters = await asyncio.to_thread(stopping.close)
                    log.info("%s closed: %s", stopping.writer.root, counters)
            await telemetry.stop()  # after the logs: their last counts are published
            await reader.close()
            gc.set_threshold(*previous_thresholds)

    app = FastAPI(
        title="scorer",
        summary="Real-time scoring on Feast online features with LightGBM.",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_problem_handlers(app, settings.retry_after_s)
    app.add_middleware(
        BodyLimits, max_bytes=settings.body_limit_bytes(), timeout_s=settings.body_timeout_s
    )
    app.include_router(router)

    def openapi() -> dict[str, Any]:
        """FastAPI's schema, plus the plain Starlette ``/score`` route it cannot see."""
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schema["paths"] = {"/score": {"post": SCORE_OPERATION}, **schema["paths"]}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory``: settings from the environment."""
    return create_app(Settings())
