"""Hot reload: a running service follows promotions in the registry without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from scoring.errors import ScoringError
from scoring.model.registry import Aliases, ModelRegistry
from scoring.serving.routing import serving_aliases
from scoring.serving.service import ScoringService, ServedModels, load_served

log = logging.getLogger(__name__)


def aliases_to_serve(registry: ModelRegistry) -> dict[str, Aliases]:
    """What every model with a champion should be served as, as the alias files say now."""
    aliases = {name: serving_aliases(registry.aliases(name)) for name in registry.models()}
    return {name: a for name, a in aliases.items() if a.champion is not None}


def aliases_served(models: ServedModels) -> dict[str, Aliases]:
    """What a service is serving: champion, canary and its share, shadow, by model."""
    return {name: served.aliases() for name, served in models.served.items()}


class ModelWatcher:
    """Polls the alias files; loads new versions off the request path, then swaps them in.

    Polling files works the same for every worker and every host sharing the registry, and
    the swap is one reference assignment: a request holds the models it started with.
    """

    def __init__(
        self, service: ScoringService, default_model: str | None, interval_s: float
    ) -> None:
        self._service = service
        self._default = default_model
        self._interval = interval_s
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def reload_if_changed(self) -> bool:
        """Load what was promoted since the last look; True when the served models changed."""
        async with self._lock:
            registry = self._service.registry
            versions = await asyncio.to_thread(aliases_to_serve, registry)
            current = self._service.models
            if versions == aliases_served(current):
                return False
            try:
                models = await asyncio.to_thread(load_served, registry, self._default, current)
            except (ScoringError, OSError) as exc:
                # Keep answering with what works; the next poll tries again.
                log.error("not reloading: %s", exc)
                return False
            self._service.models = models
            log.info("now serving %s", aliases_served(models))
            return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.reload_if_changed()
            except Exception:  # a watcher that dies silently would freeze the service's models
                log.exception("model reload check failed")

    def start(self) -> None:
        """Start polling in the background."""
        self._task = asyncio.create_task(self._run(), name="model-watcher")

    async def stop(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
