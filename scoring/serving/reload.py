"""Hot reload: a running service follows promotions in the registry without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from scoring.errors import RegistryCorrupt, ScoringError
from scoring.model.loaded import LoadFailure
from scoring.model.registry import Aliases, ModelRegistry
from scoring.serving.routing import serving_aliases
from scoring.serving.served import ServedModels, load_served
from scoring.serving.service import ScoringService

log = logging.getLogger(__name__)


def aliases_to_serve(registry: ModelRegistry) -> dict[str, Aliases | None]:
    """What every model with a champion should be served as, as the alias files say now.

    A model whose alias file cannot be read maps to None: it cannot be known, so it is never
    what is served, and the next load reports it.
    """
    wanted: dict[str, Aliases | None] = {}
    for name in registry.models():
        try:
            aliases = serving_aliases(registry.aliases(name))
        except RegistryCorrupt:
            wanted[name] = None
            continue
        if aliases.champion is not None:
            wanted[name] = aliases
    return wanted


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
        self.failures: dict[tuple[str, str], LoadFailure] = {}
        """What the alias files name but this worker could not load, by (model, alias)."""

    async def reload_if_changed(self) -> bool:
        """Load what was promoted since the last look; True when the served models changed.

        What cannot be loaded is kept in :attr:`failures` (readiness and metrics show it) and
        the model keeps serving what it served; the next look tries again.
        """
        async with self._lock:
            registry = self._service.registry
            current = self._service.models
            try:
                wanted = await asyncio.to_thread(aliases_to_serve, registry)
            except (ScoringError, OSError) as exc:
                log.error("not reloading: %s", exc)
                return False
            if wanted == aliases_served(current):
                self._record({})
                return False
            failures: dict[tuple[str, str], LoadFailure] = {}

            def failed(failure: LoadFailure) -> None:
                failures[(failure.model, failure.alias)] = failure

            try:
                models = await asyncio.to_thread(
                    load_served, registry, self._default, current, failed
                )
            except (ScoringError, OSError) as exc:
                # Keep answering with what works; the next poll tries again.
                log.error("not reloading: %s", exc)
                return False
            self._record(failures)
            if aliases_served(models) == aliases_served(current):
                return False
            self._service.models = models
            log.info("now serving %s", aliases_served(models))
            return True

    def _record(self, failures: dict[tuple[str, str], LoadFailure]) -> None:
        """Keep the failures of the last look; log each new one once, not on every poll."""
        for key, failure in failures.items():
            if self.failures.get(key) != failure:
                log.error(
                    "not reloading: %s (%s keeps serving its %s as before)",
                    failure.error, failure.model, failure.alias,
                )  # fmt: skip
        for key in self.failures.keys() - failures.keys():
            log.info("%s %s loads again", *key)
        self.failures = failures

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
