"""The micro-batcher inside the scoring service, with real reads of real models' features."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from features.readers import FeatureReader, make_online_reader
from features.store import open_feature_store
from scoring.model.registry import ModelRegistry
from scoring.serving.request import ScoreRequest
from scoring.serving.served import load_served
from scoring.serving.service import ScoringService
from scoring.settings import Settings
from tests.utils.repo import DemoRepo
from tests.utils.serving import entities, register_copy_of_v1

TOGETHER_S = 2.0
"""How long a read waits for another beside it: bounds the test when reads come one by one."""


class PairedReads:
    """The real reader; each read waits (a bounded while) until another is in flight too."""

    def __init__(self, reader: FeatureReader) -> None:
        self.reader = reader
        self.in_flight = 0
        self.most_in_flight = 0
        self.together = asyncio.Event()

    async def read(
        self,
        feature_service: str,
        rows: Sequence[Mapping[str, Any]],
        timeout_s: float | None = None,
    ) -> Mapping[str, Sequence[Any]]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        if self.in_flight >= 2:
            self.together.set()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.together.wait(), TOGETHER_S)
            return await self.reader.read(feature_service, rows, timeout_s)
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        await self.reader.close()


def test_single_entity_requests_of_the_champion_and_the_canary_are_read_at_once(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    registry = ModelRegistry(own_settings.models_dir)
    canary = register_copy_of_v1(own_settings)
    registry.set_alias("fraud", "canary", canary, 0.5)
    rows = entities(demo_repo, 16, seed=9)

    async def main() -> tuple[list[dict[str, Any]], PairedReads, ScoringService]:
        store = open_feature_store(own_settings.feature_repo, own_settings.online_store)
        reader = PairedReads(make_online_reader(store, 2.0))
        service = ScoringService(registry, reader, load_served(registry, None),
                                 batching_max_rows=256, batching_request_rows=16)  # fmt: skip
        assert service.batcher is not None
        service.batcher.start()
        answers = await asyncio.gather(
            *(service.score(ScoreRequest("fraud", [row], False)) for row in rows)
        )
        await service.batcher.stop()
        await reader.close()
        return list(answers), reader, service

    answers, reader, service = asyncio.run(main())
    versions = [answer["version"] for answer in answers]
    assert set(versions) == {1, canary}  # both versions answered some of the entities
    assert reader.most_in_flight == 2  # the two versions' batches read side by side
    assert service.batcher is not None
    assert (service.batcher.batches, service.batcher.requests) == (2, 16)
    for answer in answers:
        (prediction,) = answer["predictions"]
        assert 0.0 <= prediction["score"] <= 1.0
