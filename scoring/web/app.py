"""The application factory ``create_app(settings)``; ``uvicorn --factory`` runs ``app_from_env``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypedDict

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from features.push import FeaturePusher
from scoring.serving.catalog import ModelCatalog
from scoring.serving.job_metrics import JobMetricsCollector
from scoring.serving.reload import ModelWatcher
from scoring.serving.runtime import open_runtime, steady_gc
from scoring.serving.service import ScoringService
from scoring.serving.telemetry import Telemetry
from scoring.settings import Settings
from scoring.web import open_inference
from scoring.web.limits import BodyLimits
from scoring.web.problems import install_problem_handlers
from scoring.web.routes import SCORE_OPERATION, router

log = logging.getLogger(__name__)


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
        async with open_runtime(settings) as runtime:
            service, watcher = runtime.service, runtime.watcher
            models = service.models
            log.info(
                "serving %s",
                ", ".join(f"{n} {s.aliases()}" for n, s in models.served.items()) or "no models",
            )
            with steady_gc():
                yield {
                    "settings": settings,
                    "service": service,
                    "catalog": ModelCatalog(service),
                    "watcher": watcher,
                    "job_metrics": JobMetricsCollector(settings.data_dir),
                    "telemetry": runtime.telemetry,
                    "pusher": runtime.pusher,
                    "admin_key": settings.resolved_admin_key(),
                }

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
    app.include_router(open_inference.router)

    def openapi() -> dict[str, Any]:
        """FastAPI's schema, plus the plain Starlette routes it cannot see (``/score``, infer)."""
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            paths = {"/score": {"post": SCORE_OPERATION}, **schema["paths"]}
            schema["paths"] = {**paths, **open_inference.INFER_OPERATIONS}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory``: settings from the environment."""
    return create_app(Settings())
