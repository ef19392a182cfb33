"""A request's time budget runs from its arrival: the read gets what is left of it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from features.readers import FeatureReader, make_online_reader
from features.store import open_feature_store
from scoring.errors import DeadlineExceeded
from scoring.model.registry import ModelRegistry
from scoring.serving.batching import RowsToScore
from scoring.serving.request import ScoreRequest
from scoring.serving.served import load_served
from scoring.serving.service import ScoringService
from scoring.settings import Settings
from tests.utils.repo import DemoRepo
from tests.utils.serving import entities


class TimedReader:
    """The real reader, noting the time each read was given."""

    def __init__(self, reader: FeatureReader) -> None:
        self.reader = reader
        self.timeouts: list[float | None] = []

    async def read(
        self,
        feature_service: str,
        rows: Sequence[Mapping[str, Any]],
        timeout_s: float | None = None,
    ) -> Mapping[str, Sequence[Any]]:
        self.timeouts.append(timeout_s)
        return await self.reader.read(feature_service, rows, timeout_s)

    async def close(self) -> None:
        await self.reader.close()


def _service(settings: Settings, budget_s: float) -> tuple[ScoringService, TimedReader]:
    registry = ModelRegistry(settings.models_dir)
    store = open_feature_store(settings.feature_repo, settings.online_store)
    reader = TimedReader(make_online_reader(store, 2.0))
    return ScoringService(registry, reader, load_served(registry, None), budget_s=budget_s), reader


def test_a_batch_read_gets_the_time_left_of_its_most_patient_member(
    settings: Settings, demo_repo: DemoRepo
) -> None:
    rows = entities(demo_repo, 2, seed=3)

    async def main() -> tuple[list[float | None], float]:
        service, reader = _service(settings, budget_s=1.0)
        model = service.served_versions(None).champion
        now = time.perf_counter()
        requests = [
            RowsToScore("old", "champion", [rows[0]], now - 0.5, now + 0.5),
            RowsToScore("new", "champion", [rows[1]], now, now + 1.0),
        ]
        computed = await service.compute(model, requests)
        await reader.close()
        return reader.timeouts, float(computed.scores.shape[0])

    timeouts, scored = asyncio.run(main())
    assert scored == 2
    (given,) = timeouts
    assert given is not None
    assert 0.5 < given <= 1.0


def test_requests_past_their_deadline_are_not_read(settings: Settings, demo_repo: DemoRepo) -> None:
    async def main() -> list[float | None]:
        service, reader = _service(settings, budget_s=1.0)
        model = service.served_versions(None).champion
        now = time.perf_counter()
        late = RowsToScore("late", "champion", entities(demo_repo, 1, seed=4), now - 2, now - 1)
        with pytest.raises(DeadlineExceeded, match=r"time budget \(1 s\) ran out"):
            await service.compute(model, [late])
        await reader.close()
        return reader.timeouts

    assert asyncio.run(main()) == []


def test_a_request_is_given_its_budget_from_arrival(
    settings: Settings, demo_repo: DemoRepo
) -> None:
    async def main() -> list[float | None]:
        service, reader = _service(settings, budget_s=0.75)
        answer = await service.score(ScoreRequest(None, entities(demo_repo, 1, seed=5), False))
        assert len(answer["predictions"]) == 1
        await reader.close()
        return reader.timeouts

    (given,) = asyncio.run(main())
    assert given is not None
    assert 0.5 < given <= 0.75
