"""The model watcher: a running service follows the registry's aliases and keeps what works."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from features.readers import make_online_reader
from features.store import open_feature_store
from scoring.model.registry import Aliases, ModelRegistry
from scoring.serving.reload import ModelWatcher
from scoring.serving.served import load_served
from scoring.serving.service import ScoringService
from scoring.settings import Settings
from tests.utils.serving import register_copy_of_v1

Watched = tuple[ScoringService, ModelWatcher, ModelRegistry]


@contextlib.asynccontextmanager
async def watched(settings: Settings, interval_s: float = 60.0) -> AsyncIterator[Watched]:
    """A service serving what the registry says now, its watcher (not started), the registry."""
    registry = ModelRegistry(settings.models_dir)
    store = open_feature_store(settings.feature_repo, settings.online_store)
    reader = make_online_reader(store, settings.online_timeout_s)
    try:
        service = ScoringService(registry, reader, load_served(registry, settings.default_model))
        yield service, ModelWatcher(service, settings.default_model, interval_s), registry
    finally:
        await reader.close()


def run(settings: Settings, test: Callable[[Watched], Coroutine[Any, Any, None]]) -> None:
    """Run ``test`` on a watched service, in an event loop of its own."""

    async def main() -> None:
        async with watched(settings) as parts:
            await test(parts)

    asyncio.run(main())


def test_nothing_promoted_nothing_reloaded(own_settings: Settings) -> None:
    async def test(parts: Watched) -> None:
        service, watcher, registry = parts
        before = service.models
        assert await watcher.reload_if_changed() is False
        assert service.models is before
        # A canary without a share changes nothing that is served.
        registry.set_alias("fraud", "canary", register_copy_of_v1(own_settings), weight=0.0)
        assert await watcher.reload_if_changed() is False
        assert service.models is before

    run(own_settings, test)


def test_a_promotion_is_loaded_and_swapped_in_whole(own_settings: Settings) -> None:
    champion, canary, shadow = (register_copy_of_v1(own_settings) for _ in range(3))

    async def test(parts: Watched) -> None:
        service, watcher, registry = parts
        before = service.models
        registry.set_alias("fraud", "champion", champion)
        registry.set_alias("fraud", "canary", canary, weight=0.25)
        registry.set_alias("fraud", "shadow", shadow)
        assert await watcher.reload_if_changed() is True
        served = service.models.served["fraud"]
        assert served.aliases() == Aliases(champion, canary, 0.25, shadow)
        assert served.champion.version == champion
        assert served.canary is not None
        assert served.canary.version == canary
        assert served.shadow is not None
        assert served.shadow.version == shadow
        assert service.models.default == "fraud"
        # Swapped, not changed in place: a request that started before still has v1 alone.
        assert before.served["fraud"].aliases() == Aliases(champion=1)
        assert await watcher.reload_if_changed() is False, "in step with the registry now"

        registry.set_alias("fraud", "canary", None)
        registry.set_alias("fraud", "shadow", None)
        assert await watcher.reload_if_changed() is True
        assert service.models.served["fraud"].aliases() == Aliases(champion=champion)

    run(own_settings, test)


def test_versions_already_loaded_are_reused(own_settings: Settings) -> None:
    v2, v3 = register_copy_of_v1(own_settings), register_copy_of_v1(own_settings)

    async def test(parts: Watched) -> None:
        service, watcher, registry = parts
        v1 = service.models.served["fraud"].champion
        registry.set_alias("fraud", "champion", v2)
        registry.set_alias("fraud", "shadow", 1)
        assert await watcher.reload_if_changed() is True
        served = service.models.served["fraud"]
        assert served.shadow is v1, "the old champion was not loaded again"
        loaded_v2 = served.champion
        registry.set_alias("fraud", "canary", v3, weight=0.5)
        assert await watcher.reload_if_changed() is True
        served = service.models.served["fraud"]
        assert served.champion is loaded_v2
        assert served.shadow is v1
        assert served.canary is not None
        assert served.canary.version == v3

    run(own_settings, test)


@pytest.mark.parametrize(
    ("broken_file", "alias"),
    [("model.txt", "champion"), ("manifest.json", "champion"), ("model.txt", "canary")],
)
def test_a_version_that_cannot_load_leaves_the_served_models_alone(
    own_settings: Settings, caplog: pytest.LogCaptureFixture, broken_file: str, alias: str
) -> None:
    broken = register_copy_of_v1(own_settings)
    caplog.set_level(logging.ERROR, logger="scoring.serving.reload")

    async def test(parts: Watched) -> None:
        service, watcher, registry = parts
        before = service.models
        path = registry.version_dir("fraud", broken) / broken_file
        good = path.read_bytes()
        # Promoted while whole, broken afterwards (or on another host's copy of the registry).
        registry.set_alias("fraud", alias, broken, weight=0.5 if alias == "canary" else 0.0)
        path.write_text("garbage")
        assert await watcher.reload_if_changed() is False
        assert service.models is before
        [failure] = watcher.failures.values()
        assert (failure.model, failure.alias, failure.version) == ("fraud", alias, broken)
        assert broken_file in failure.error
        assert await watcher.reload_if_changed() is False
        [refusal] = [r for r in caplog.records if r.name == "scoring.serving.reload"]
        assert refusal.levelno == logging.ERROR, "logged once, not on every look"
        assert refusal.getMessage().startswith(f"not reloading: model fraud v{broken}: ")
        assert broken_file in refusal.getMessage()
        # The next look tries again, and succeeds once the version is whole.
        path.write_bytes(good)
        assert await watcher.reload_if_changed() is True
        assert getattr(service.models.served["fraud"].aliases(), alias) == broken
        assert watcher.failures == {}

    run(own_settings, test)


def test_started_it_follows_promotions_and_stop_ends_it(own_settings: Settings) -> None:
    v2 = register_copy_of_v1(own_settings)

    async def main() -> None:
        async with watched(own_settings, interval_s=0.05) as (service, watcher, registry):
            watcher.start()
            [task] = [t for t in asyncio.all_tasks() if t.get_name() == "model-watcher"]
            registry.set_alias("fraud", "champion", v2)
            deadline = time.monotonic() + 30
            while service.models.served["fraud"].champion.version != v2:
                assert time.monotonic() < deadline, "the promotion was never picked up"
                await asyncio.sleep(0.02)
            assert not task.done()
            await watcher.stop()
            assert task.cancelled()
            assert not [t for t in asyncio.all_tasks() if t.get_name() == "model-watcher"]

    asyncio.run(main())
