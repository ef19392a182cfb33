"""Dependency aliases shared by the routes.

The providers are ``async def`` although they never await: FastAPI runs a plain ``def``
dependency in a worker thread, a thread hop per request for a dictionary lookup.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from features.push import FeaturePusher
from scoring.errors import Forbidden, Unauthorized, quoted
from scoring.serving.catalog import ModelCatalog
from scoring.serving.job_metrics import JobMetricsCollector
from scoring.serving.reload import ModelWatcher
from scoring.serving.service import ScoringService
from scoring.serving.telemetry import Telemetry
from scoring.settings import Settings


async def _service(request: Request) -> ScoringService:
    service: ScoringService = request.state.service
    return service


async def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


async def _catalog(request: Request) -> ModelCatalog:
    catalog: ModelCatalog = request.state.catalog
    return catalog


async def _watcher(request: Request) -> ModelWatcher:
    watcher: ModelWatcher = request.state.watcher
    return watcher


async def _job_metrics(request: Request) -> JobMetricsCollector:
    collector: JobMetricsCollector = request.state.job_metrics
    return collector


async def _telemetry(request: Request) -> Telemetry:
    telemetry: Telemetry = request.state.telemetry
    return telemetry


async def _pusher(request: Request) -> FeaturePusher:
    pusher: FeaturePusher = request.state.pusher
    return pusher


async def _admin(request: Request) -> None:
    key: str | None = request.state.admin_key
    if key is None:
        raise Forbidden("admin calls are disabled: set SCORER_ADMIN_KEY or SCORER_ADMIN_KEY_FILE")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), key.encode()):
        raise Unauthorized("send the admin key as 'Authorization: Bearer <key>'")


def is_json(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` names JSON: ``application/json`` or ``application/*+json``."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    kind, _, subtype = media_type.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


async def require_json(request: Request) -> None:
    """Refuse a body that is not declared JSON (415).

    A browser sends ``text/plain`` cross-site without asking first (a "simple" request): only
    a JSON content type, which needs a preflight, keeps other sites' pages from posting here.
    """
    content_type = request.headers.get("content-type")
    if not is_json(content_type):
        raise HTTPException(
            415, f"send the body as application/json, not {quoted(content_type or 'nothing')}"
        )


CatalogDep = Annotated[ModelCatalog, Depends(_catalog)]
ServiceDep = Annotated[ScoringService, Depends(_service)]
SettingsDep = Annotated[Settings, Depends(_settings)]
WatcherDep = Annotated[ModelWatcher, Depends(_watcher)]
JobMetricsDep = Annotated[JobMetricsCollector, Depends(_job_metrics)]
TelemetryDep = Annotated[Telemetry, Depends(_telemetry)]
PusherDep = Annotated[FeaturePusher, Depends(_pusher)]
AdminDep = Annotated[None, Depends(_admin)]
