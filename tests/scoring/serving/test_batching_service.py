"""The micro-batcher inside the scoring service, with real reads of real models' features."""

from __future__ import annotations

import asyncio
from typing import Any

from features.readers import make_online_reader
from features.store import open_feature_store
from scoring.model.registry import ModelRegistry
from scoring.serving.request import ScoreRequest
from scoring.serving.served import load_served
from scoring.serving.service import ScoringService
from scoring.settings import Settings
from tests.utils.repo import DemoRepo
from tests.utils.serving import CountingReader, entities, register_copy_of_v1


def test_single_entity_requests_of_the_champion_and_the_canary_share_one_read(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    registry = ModelRegistry(own_settings.models_dir)
    canary = register_copy_of_v1(own_settings)
    registry.set_alias("fraud", "canary", canary, 0.5)
    rows = entities(demo_repo, 16, seed=9)

    async def main(batch_rows: int) -> tuple[list[dict[str, Any]], CountingReader, ScoringService]:
        store = open_feature_store(own_settings.feature_repo, own_settings.online_store)
        reader = CountingReader(make_online_reader(store, 2.0))
        served = load_served(registry, None)
        service = ScoringService(
            registry, reader, served, batching_max_rows=batch_rows, batching_request_rows=16
        )
        if service.batcher is not None:
            service.batcher.start()
        answers = await asyncio.gather(
            *(service.score(ScoreRequest("fraud", [row], True)) for row in rows)
        )
        if service.batcher is not None:
            await service.batcher.stop()
        await reader.close()
        return list(answers), reader, service

    answers, reader, service = asyncio.run(main(256))
    versions = [answer["version"] for answer in answers]
    assert set(versions) == {1, canary}  # both versions answered some of the entities
    assert reader.rows_read == [16]  # their two batches, computed at once, read together
    assert service.batcher is not None
    assert (service.batcher.batches, service.batcher.requests) == (2, 16)
    # Each entity scored with its own features, exactly as when each request reads alone.
    alone, alone_reads, _ = asyncio.run(main(0))
    assert alone_reads.rows_read == [1] * 16
    assert [a["version"] for a in alone] == versions
    assert [a["predictions"] for a in alone] == [a["predictions"] for a in answers]
