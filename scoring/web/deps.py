"""Dependency aliases shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from scoring.service import ScoringService
from scoring.settings import Settings


def _service(request: Request) -> ScoringService:
    service: ScoringService = request.state.service
    return service


def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


ServiceDep = Annotated[ScoringService, Depends(_service)]
SettingsDep = Annotated[Settings, Depends(_settings)]
