"""Dependency aliases shared by the routes.

The providers are ``async def`` although they never await: FastAPI runs a plain ``def``
dependency in a worker thread, a thread hop per request for a dictionary lookup.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from scoring.errors import Forbidden, Unauthorized
from scoring.serving.catalog import ModelCatalog
from scoring.serving.reload import ModelWatcher
from scoring.serving.service import ScoringService
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


async def _admin(request: Request) -> None:
    key: str | None = request.state.admin_key
    if key is None:
        raise Forbidden("admin calls are disabled: set SCORER_ADMIN_KEY or SCORER_ADMIN_KEY_FILE")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), key.encode()):
        raise Unauthorized("send the admin key as 'Authorization: Bearer <key>'")


CatalogDep = Annotated[ModelCatalog, Depends(_catalog)]
ServiceDep = Annotated[ScoringService, Depends(_service)]
SettingsDep = Annotated[Settings, Depends(_settings)]
WatcherDep = Annotated[ModelWatcher, Depends(_watcher)]
AdminDep = Annotated[None, Depends(_admin)]
