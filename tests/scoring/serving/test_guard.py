"""The canary guard against a real registry: removes a tripped canary once, and only that one."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from scoring.model.registry import ModelRegistry
from scoring.serving.batching import Computed, RowsToScore
from scoring.serving.guard import CanaryGuard
from scoring.serving.guard_rules import GuardPolicy
from scoring.serving.routing import ServedVersions
from scoring.serving.served import load_served
from scoring.serving.service_metrics import service_metrics
from scoring.settings import Settings
from tests.utils.serving import register_copy_of_v1

POLICY = GuardPolicy(window=400, min_samples=100)
EVERY = 20


def served_with_canary(settings: Settings) -> tuple[ModelRegistry, ServedVersions, int]:
    """``fraud`` served with a canary (a copy of v1) at half the entities."""
    registry = ModelRegistry(settings.models_dir)
    canary = register_copy_of_v1(settings)
    registry.set_alias("fraud", "canary", canary, 0.5, who="cli", why="try it")
    return registry, load_served(registry, None).served["fraud"], canary


def new_guard(registry: ModelRegistry) -> tuple[CanaryGuard, CollectorRegistry]:
    metrics = service_metrics(None)  # in this process's memory, not a file Feast's import chose
    assert metrics.registry is not None
    return CanaryGuard(registry, POLICY, metrics, EVERY), metrics.registry


def feed(guard: CanaryGuard, served: ServedVersions, canary: Callable[[float], float]) -> None:
    """500 single-row computations for each version; the canary's scores as ``canary`` makes
    them of the champion's."""
    rng = np.random.default_rng(0)
    for score in rng.beta(1, 20, 500):
        for model, value in ((served.champion, score), (served.canary, canary(score))):
            assert model is not None
            scoring = RowsToScore("r", "champion", [{}], time.perf_counter())
            computed = Computed({}, np.array([value]), np.zeros((1, 1), dtype=bool))
            guard.record(served, model, [scoring], computed, time.perf_counter())


def rollbacks(metrics: CollectorRegistry, reason: str) -> float | None:
    labels = {"model": "fraud", "reason": reason}
    return metrics.get_sample_value("scorer_canary_rollbacks_total", labels)


def guard_lines(registry: ModelRegistry) -> list[dict[str, object]]:
    return [entry for entry in registry.history("fraud") if entry["who"] == "guard"]


def test_a_tripped_canary_is_removed_once_with_the_figures(
    own_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    registry, served, canary = served_with_canary(own_settings)

    async def main() -> None:
        guard, metrics = new_guard(registry)
        other, other_metrics = new_guard(registry)  # another worker's, watching the same
        with caplog.at_level(logging.WARNING, "scoring.serving.guard"):
            feed(guard, served, lambda score: 1.0 - score)
            await guard.stop(30)
        feed(other, served, lambda score: 1.0 - score)
        await other.stop(30)
        assert rollbacks(metrics, "score_psi") == 1.0
        assert rollbacks(other_metrics, "score_psi") is None  # already gone: not counted again
        assert (guard.removals, other.removals) == (1, 0)

    asyncio.run(main())
    aliases = registry.aliases("fraud")
    assert (aliases.champion, aliases.canary, aliases.canary_weight) == (1, None, 0.0)
    [line] = guard_lines(registry)
    assert (line["alias"], line["old"], line["new"]) == ("canary", canary, None)
    assert isinstance(line["why"], str)
    assert line["why"].startswith(f"canary v{canary}: PSI")
    details = line["details"]
    assert isinstance(details, dict)
    assert details["reason"] == "score_psi"
    assert details["version"] == canary
    assert details["score_psi"] > POLICY.score_psi
    assert details["canary"]["rows"] >= POLICY.min_samples
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "removed canary fraud" in warning.getMessage()
    assert '"score_psi"' in warning.getMessage()


def test_a_healthy_canary_is_left_alone(own_settings: Settings) -> None:
    registry, served, canary = served_with_canary(own_settings)

    async def main() -> None:
        guard, _metrics = new_guard(registry)
        feed(guard, served, lambda score: score * 1.05)  # a little recalibrated
        await guard.stop(30)
        assert guard.removals == 0

    asyncio.run(main())
    assert registry.aliases("fraud").canary == canary
    assert guard_lines(registry) == []


def test_a_canary_pointed_elsewhere_meanwhile_is_not_clobbered(own_settings: Settings) -> None:
    registry, served, _tripped = served_with_canary(own_settings)
    newer = register_copy_of_v1(own_settings)

    async def main() -> None:
        guard, metrics = new_guard(registry)
        feed(guard, served, lambda score: 1.0 - score)  # trips; the removal waits for the loop
        # Before it runs, a person points the canary at another version.
        registry.set_alias("fraud", "canary", newer, 0.2, who="admin", why="a fixed build")
        await guard.stop(30)
        assert guard.removals == 0
        assert rollbacks(metrics, "score_psi") is None

    asyncio.run(main())
    aliases = registry.aliases("fraud")
    assert (aliases.canary, aliases.canary_weight) == (newer, 0.2)
    assert guard_lines(registry) == []


def test_a_registry_that_cannot_be_written_is_tried_again_later(
    own_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    registry, served, _canary = served_with_canary(own_settings)
    lock = registry.model_dir("fraud") / "aliases.json.lock"
    lock.unlink()
    lock.mkdir()  # the lock cannot be opened: nothing can be changed

    async def main() -> None:
        guard, metrics = new_guard(registry)
        with caplog.at_level(logging.ERROR, "scoring.serving.guard"):
            feed(guard, served, lambda score: 1.0 - score)
            await guard.stop(30)
        assert guard.removals == 0
        assert any("cannot be written" in r.getMessage() for r in caplog.records)
        lock.rmdir()
        # Still serving and still watching: once the back-off has passed, it tries again.
        deadline = time.monotonic() + 30
        while guard.removals == 0 and time.monotonic() < deadline:
            feed(guard, served, lambda score: 1.0 - score)
            await guard.stop(30)
            await asyncio.sleep(0.2)
        assert guard.removals == 1
        assert rollbacks(metrics, "score_psi") == 1.0

    asyncio.run(main())
    assert registry.aliases("fraud").canary is None
    assert len(guard_lines(registry)) == 1


def test_no_guard_for_a_canary_of_the_champions_own_version(own_settings: Settings) -> None:
    registry = ModelRegistry(own_settings.models_dir)
    registry.set_alias("fraud", "canary", 1, 0.5)
    served = load_served(registry, None).served["fraud"]

    async def main() -> None:
        guard, _ = new_guard(registry)
        feed(guard, served, lambda score: 1.0 - score)
        await guard.stop(30)
        assert guard.removals == 0

    asyncio.run(main())
    assert registry.aliases("fraud").canary == 1
