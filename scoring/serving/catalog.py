"""The model catalog: what is registered, what this worker serves, and moving aliases.

The routes of ``/models`` only translate HTTP; the answers and the promotion rules are here,
as MLServer's endpoints leave theirs to its data plane.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from scoring.errors import InvalidRequest, ModelLoadError, ModelNotFound, RegistryCorrupt
from scoring.model.registry import Aliases, ModelRegistry
from scoring.serving.service import ScoringService

HISTORY_SHOWN = 20
"""Alias changes ``GET /models/{name}`` shows, the latest."""


class ModelCatalog:
    """Summaries of registered models and their aliases, read and set through the registry."""

    def __init__(self, service: ScoringService) -> None:
        self._service = service

    @property
    def registry(self) -> ModelRegistry:
        """The registry the service loads its models from."""
        return self._service.registry

    def summaries(self) -> list[dict[str, Any]]:
        """Every registered model: versions, aliases, what this worker serves.

        A model whose alias file cannot be read is still listed, with the ``error``: one
        broken file does not hide the other models.
        """
        listed = []
        for name in self.registry.models():
            try:
                listed.append(self.summary(name))
            except RegistryCorrupt as exc:
                listed.append({"name": name, "error": str(exc), "versions": None})
        return listed

    def summary(self, name: str) -> dict[str, Any]:
        """One model's versions, aliases, feature service and what this worker serves."""
        registry = self.registry
        versions = registry.versions(name)
        if not versions:
            raise ModelNotFound(f"no model named {name!r} is registered")
        models = self._service.models
        served = models.served.get(name)
        aliases = registry.aliases(name)
        champion = aliases.champion
        listed = [self._version_summary(name, v) for v in versions]
        shown = champion if champion is not None else versions[-1]
        feature_service = next(
            (v.get("feature_service") for v in listed if v["version"] == shown), None
        )
        return {
            "name": name,
            "aliases": asdict(aliases),
            "served_version": served.champion.version if served else None,
            "served": asdict(served.aliases()) if served else None,
            "default": models.default == name,
            "feature_service": feature_service,
            "versions": listed,
        }

    def describe(self, name: str) -> dict[str, Any]:
        """:meth:`summary`, plus the inputs and post-processing of the served champion."""
        summary = self.summary(name)
        served = self._service.models.champions.get(name)
        if served is not None:
            manifest = served.manifest
            summary["inputs"] = {
                "join_keys": manifest.feast_schema["join_keys"],
                "request_fields": manifest.feast_schema["request_fields"],
                "features": manifest.feast_schema["features"],
            }
            summary["postprocess"] = manifest.postprocess.model_dump()
        summary["history"] = self.registry.history(name, last=HISTORY_SHOWN)
        return summary

    def _version_summary(self, name: str, version: int) -> dict[str, Any]:
        try:
            manifest = self.registry.manifest(name, version)
        except ModelLoadError as exc:
            return {"version": version, "error": str(exc)}
        return {
            "version": version,
            "created_at": manifest.created_at,
            "feature_service": manifest.feature_service,
            "metrics": manifest.metrics,
            "training_window": manifest.training_window.model_dump(),
        }

    def promote(
        self, name: str, alias: str, version: int | None, weight: float = 0.0, why: str = ""
    ) -> Aliases:
        """Point ``alias`` of ``name`` at ``version`` (None clears it); the champion only moves.

        Blocking (it loads the version to check it, and waits for the model's alias lock):
        call it from a thread.
        """
        registry = self.registry
        if not registry.versions(name):
            raise ModelNotFound(f"no model named {name!r} is registered")
        if alias == "champion" and version is None:
            raise InvalidRequest("the champion alias cannot be cleared, only moved")
        try:
            return registry.set_alias(name, alias, version, weight, who="admin", why=why)
        except InvalidRequest:
            raise
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from exc
