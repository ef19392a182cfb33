"""The scoring service without HTTP: routing, loading what is served, warm-up, shadow overload."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest

import scoring.serving.service
from features.readers import FeatureReader, make_online_reader
from features.store import ONLINE_STORE_ENV, open_feature_store
from jobs.demo.redis_server import free_port
from scoring.errors import InvalidRequest, ModelLoadError, ModelNotFound
from scoring.log.prediction_log import PredictionLog
from scoring.model.loaded import LoadFailure, load_model
from scoring.model.registry import Aliases, ModelRegistry
from scoring.serving.request import ScoreRequest
from scoring.serving.routing import ServedVersions
from scoring.serving.served import ServedModels, load_served
from scoring.serving.service import ScoringService
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.repo import DemoRepo
from tests.utils.serving import CountingReader, entities, read_log, register_copy_of_v1

MADE_UP_ROW = {"customer_id": 0, "merchant_id": 0, "amount": 0.0}


def register_copy_as(settings: Settings, name: str) -> int:
    """Another model, ``name``, with fraud v1's files, made its champion."""
    registry = ModelRegistry(settings.models_dir)
    folder = registry.version_dir("fraud", 1)
    files = {f: (folder / f).read_bytes() for f in ("model.txt", "reference.json")}
    version = registry.register(name, files, registry.manifest("fraud", 1).model_dump()).version
    registry.set_alias(name, "champion", version)
    return version


class NoReads:
    """A reader for tests of routing alone: a read would mean the test is not what it says."""

    async def read(
        self,
        feature_service: str,
        rows: Sequence[Mapping[str, Any]],
        timeout_s: float | None = None,
    ) -> Mapping[str, Sequence[Any]]:
        raise AssertionError(f"unexpected read of {feature_service}")

    async def close(self) -> None:
        pass


class OffPathReadsWait:
    """The real reader; reads from any task but the requester's (shadows') wait for a release."""

    def __init__(self, reader: FeatureReader, requester: asyncio.Task[Any]) -> None:
        self.reader = reader
        self.requester = requester
        self.release = asyncio.Event()
        self.waiting = 0

    async def read(
        self,
        feature_service: str,
        rows: Sequence[Mapping[str, Any]],
        timeout_s: float | None = None,
    ) -> Mapping[str, Sequence[Any]]:
        if asyncio.current_task() is not self.requester:
            self.waiting += 1
            await self.release.wait()
            self.waiting -= 1
        return await self.reader.read(feature_service, rows, timeout_s)

    async def close(self) -> None:
        await self.reader.close()


def routing_service(models: ServedModels, registry: ModelRegistry) -> ScoringService:
    return ScoringService(registry, NoReads(), models)


def served(registry: ModelRegistry, *names: str) -> ServedModels:
    """Each named model's v1 as its champion, no default."""
    return ServedModels(
        served={n: ServedVersions(champion=load_model(registry, n, 1)) for n in names}
    )


async def eventually(condition: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def metrics_text(service: ScoringService) -> str:
    """What ``GET /metrics`` serves of this service's counts."""
    assert service.metrics.registry is not None
    return generate_latest(service.metrics.registry).decode()


# Routing


def test_a_request_naming_no_model_among_several_is_told_their_names(
    own_settings: Settings,
) -> None:
    register_copy_as(own_settings, "risk")
    registry = ModelRegistry(own_settings.models_dir)
    service = routing_service(served(registry, "fraud", "risk"), registry)
    with pytest.raises(InvalidRequest, match=r"several models are served \(fraud, risk\)"):
        service.served_versions(None)
    assert service.served_versions("risk").champion.name == "risk"


def test_the_default_answers_a_request_naming_no_model(own_settings: Settings) -> None:
    register_copy_as(own_settings, "risk")
    registry = ModelRegistry(own_settings.models_dir)
    models = served(registry, "fraud", "risk")
    models.default = "risk"
    assert routing_service(models, registry).served_versions(None).champion.name == "risk"


def test_an_unknown_model_is_not_found_and_the_served_ones_are_named(settings: Settings) -> None:
    registry = ModelRegistry(settings.models_dir)
    service = routing_service(served(registry, "fraud"), registry)
    with pytest.raises(ModelNotFound, match=r"'nosuch' is not served \(loaded models: fraud\)"):
        service.served_versions("nosuch")


def test_with_no_model_loaded_every_request_is_not_found(settings: Settings) -> None:
    registry = ModelRegistry(settings.models_dir)
    service = routing_service(ServedModels(), registry)
    with pytest.raises(ModelNotFound, match="no model is loaded"):
        service.served_versions(None)
    with pytest.raises(ModelNotFound, match=r"loaded models: none"):
        service.served_versions("fraud")


# What is loaded


def test_all_versions_lists_each_loaded_version_once(own_settings: Settings) -> None:
    register_copy_as(own_settings, "risk")
    registry = ModelRegistry(own_settings.models_dir)
    fraud, risk = load_model(registry, "fraud", 1), load_model(registry, "risk", 1)
    models = ServedModels(
        served={
            # The same version as champion and shadow; another model with the same number.
            "fraud": ServedVersions(champion=fraud, canary=fraud, canary_weight=0.5, shadow=fraud),
            "risk": ServedVersions(champion=risk),
        }
    )
    assert [(m.name, m.version) for m in models.all_versions()] == [("fraud", 1), ("risk", 1)]


def test_load_served_serves_champions_and_loads_only_canaries_with_a_share(
    own_settings: Settings,
) -> None:
    registry = ModelRegistry(own_settings.models_dir)
    v2 = register_copy_of_v1(own_settings)
    v3 = register_copy_of_v1(own_settings)
    # A model registered but never promoted is not served.
    folder = registry.version_dir("fraud", 1)
    files = {f: (folder / f).read_bytes() for f in ("model.txt", "reference.json")}
    registry.register("draft", files, registry.manifest("fraud", 1).model_dump())

    registry.set_alias("fraud", "canary", v2, 0.0)
    registry.set_alias("fraud", "shadow", v3)
    models = load_served(registry, None)
    assert set(models.served) == {"fraud"}
    assert models.default == "fraud"  # the only model served is the default
    fraud = models.served["fraud"]
    assert fraud.champion.version == 1
    assert fraud.canary is None
    assert fraud.shadow is not None
    assert fraud.shadow.version == v3

    registry.set_alias("fraud", "canary", v2, 0.2)
    again = load_served(registry, None, previous=models)
    canary = again.served["fraud"].canary
    assert canary is not None
    assert (canary.version, again.served["fraud"].canary_weight) == (v2, 0.2)
    # Versions loaded before are reused, not read again from disk.
    assert again.served["fraud"].champion is fraud.champion
    assert again.served["fraud"].shadow is fraud.shadow


def test_load_served_leaves_the_default_unset_among_several(own_settings: Settings) -> None:
    register_copy_as(own_settings, "risk")
    registry = ModelRegistry(own_settings.models_dir)
    assert load_served(registry, None).default is None
    assert load_served(registry, "risk").default == "risk"


def test_load_served_refuses_a_default_without_a_champion(own_settings: Settings) -> None:
    registry = ModelRegistry(own_settings.models_dir)
    with pytest.raises(ModelNotFound, match="default model 'nosuch' has no champion version"):
        load_served(registry, "nosuch")


def test_load_served_fails_loudly_on_a_broken_champion(own_settings: Settings) -> None:
    registry = ModelRegistry(own_settings.models_dir)
    v2 = register_copy_of_v1(own_settings)
    registry.set_alias("fraud", "champion", v2)
    (registry.version_dir("fraud", v2) / "model.txt").write_text("not a model\n")
    with pytest.raises(ModelLoadError, match=f"fraud v{v2}: .*model.txt is corrupt") as error:
        load_served(registry, None)
    assert "scorer models rollback --model fraud" in str(error.value)


def test_load_served_leaves_out_a_broken_shadow_and_says_so(own_settings: Settings) -> None:
    registry = ModelRegistry(own_settings.models_dir)
    v2 = register_copy_of_v1(own_settings)
    registry.set_alias("fraud", "shadow", v2)
    (registry.version_dir("fraud", v2) / "model.txt").write_text("not a model\n")
    failures: list[LoadFailure] = []
    served = load_served(registry, None, on_failure=failures.append).served["fraud"]
    assert served.aliases() == Aliases(champion=1)
    [failure] = failures
    assert (failure.model, failure.alias, failure.version) == ("fraud", "shadow", v2)
    assert "model.txt is corrupt" in failure.error


# The probe row and the warm-up


def test_probe_row_is_a_made_up_row_for_the_default_model(own_settings: Settings) -> None:
    registry = ModelRegistry(own_settings.models_dir)
    # A second model fed by another feature service (never read here): the probe names it.
    manifest = registry.manifest("fraud", 1).model_dump()
    manifest["feast_schema"] = {**manifest["feast_schema"], "feature_service": "risk_v1"}
    folder = registry.version_dir("fraud", 1)
    files = {f: (folder / f).read_bytes() for f in ("model.txt", "reference.json")}
    registry.set_alias("risk", "champion", registry.register("risk", files, manifest).version)

    assert routing_service(ServedModels(), registry).probe_row() is None
    models = served(registry, "fraud", "risk")
    # Without a default, the first model served is probed.
    assert routing_service(models, registry).probe_row() == ("fraud_v1", MADE_UP_ROW)
    models.default = "risk"
    assert routing_service(models, registry).probe_row() == ("risk_v1", MADE_UP_ROW)


def test_warm_up_reads_a_made_up_row_once_for_every_loaded_version(
    own_settings: Settings,
) -> None:
    register_copy_as(own_settings, "risk")
    registry = ModelRegistry(own_settings.models_dir)
    v2 = register_copy_of_v1(own_settings)
    registry.set_alias("fraud", "shadow", v2)
    models = load_served(registry, None)

    async def warm() -> list[tuple[str, list[dict[str, Any]]]]:
        store = open_feature_store(own_settings.feature_repo, own_settings.online_store)
        reader = CountingReader(make_online_reader(store, 2.0))
        try:
            await ScoringService(registry, reader, models).warm_up()
        finally:
            await reader.close()
        return reader.reads

    # fraud v1, its shadow v2 and risk v1: three versions of one feature service.
    assert asyncio.run(warm()) == [("fraud_v1", [MADE_UP_ROW])] * 3


def test_warm_up_logs_a_failed_read_and_carries_on(
    settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = ModelRegistry(settings.models_dir)
    models = load_served(registry, None)
    # A real reader of an online store nobody listens on; the environment variable opening
    # it sets is put back after the test.
    monkeypatch.setenv(ONLINE_STORE_ENV, settings.online_store)
    store = open_feature_store(settings.feature_repo, f"127.0.0.1:{free_port()}")

    async def warm() -> None:
        reader = make_online_reader(store, 0.5)
        try:
            await ScoringService(registry, reader, models).warm_up()
        finally:
            await reader.close()

    with caplog.at_level(logging.WARNING, logger="scoring.serving.service"):
        asyncio.run(warm())
    warnings = [r.getMessage() for r in caplog.records if r.name == "scoring.serving.service"]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("warm-up read for model fraud v1 failed: ")


# Shadow overload


def test_past_the_shadow_limit_a_worker_skips_and_counts_shadows(
    own_settings: Settings, demo_repo: DemoRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scoring.serving.service, "MAX_SHADOWS_IN_FLIGHT", 3)
    registry = ModelRegistry(own_settings.models_dir)
    v2 = register_copy_of_v1(own_settings)
    registry.set_alias("fraud", "shadow", v2)
    requests = [ScoreRequest(None, entities(demo_repo, 1, seed), False) for seed in range(6)]

    async def run() -> tuple[list[dict[str, Any]], list[int], str]:
        store = open_feature_store(own_settings.feature_repo, own_settings.online_store)
        me = asyncio.current_task()
        assert me is not None
        reader = OffPathReadsWait(make_online_reader(store, 2.0), requester=me)
        log = PredictionLog(own_settings)
        log.start()
        service = ScoringService(registry, reader, load_served(registry, None), log)
        dropped = []
        try:
            answers = [await service.score(request) for request in requests[:5]]
            # The first three shadows hold their reads; the last two were never started.
            await eventually(lambda: reader.waiting == 3, "three shadows to wait")
            dropped.append(service.shadows_dropped)
            metrics = metrics_text(service)
            reader.release.set()
            await service.drain_shadows(30)
            dropped.append(service.shadows_dropped)
            # Done shadows make room again: the next request's shadow runs.
            answers.append(await service.score(requests[5]))
            await service.drain_shadows(30)
            dropped.append(service.shadows_dropped)
        finally:
            await reader.close()
            await asyncio.to_thread(log.close)
        return answers, dropped, metrics

    answers, dropped, metrics = asyncio.run(run())
    assert {a["version"] for a in answers} == {1}
    assert all(len(a["predictions"]) == 1 for a in answers)
    assert dropped == [2, 2, 2]
    assert "scorer_shadow_dropped_total 2.0" in metrics
    assert "scorer_shadow_failures_total 0.0" in metrics

    rows = read_log(own_settings.data_dir / "logs" / "predictions").to_pylist()
    ids = [a["request_id"] for a in answers]
    assert Counter((r["route"], r["version"]) for r in rows) == {
        ("champion", 1): 6,
        ("shadow", v2): 4,
    }
    assert {r["request_id"] for r in rows if r["route"] == "shadow"} == {*ids[:3], ids[5]}


def test_metrics_count_the_shadows_a_full_worker_skipped(
    own_settings: Settings, demo_repo: DemoRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No room at all: every shadow is skipped, which /metrics must say.
    monkeypatch.setattr(scoring.serving.service, "MAX_SHADOWS_IN_FLIGHT", 0)
    v2 = register_copy_of_v1(own_settings)
    ModelRegistry(own_settings.models_dir).set_alias("fraud", "shadow", v2)
    with TestClient(create_app(own_settings)) as client:
        for seed in range(3):
            response = client.post("/score", json={"entities": entities(demo_repo, 2, seed)})
            assert response.status_code == 200, response.text
            assert response.json()["version"] == 1
        metrics = client.get("/metrics").text
    assert "scorer_shadow_dropped_total 3.0" in metrics
    rows = read_log(own_settings.data_dir / "logs" / "predictions").to_pylist()
    assert {r["route"] for r in rows} == {"champion"}
