"""The canary guard in a real ``scorer serve --workers 2``: real models, real Redis, HTTP only.

One server, one load: a healthy canary (a retrain on the same data) keeps its share; then a
canary trained on inverted labels is removed by the guard within a bounded number of requests,
as the registry's history, ``GET /models/fraud`` and ``/metrics`` show.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx

from scoring.model.registry import ModelRegistry
from scoring.settings import Settings
from tests.utils.canaries import CanaryModels, demo_rows
from tests.utils.metrics import parse_samples, select
from tests.utils.repo import DemoRepo
from tests.utils.server import ServerProcess

WEIGHT = 0.5
MAX_REQUESTS = 6000
"""A few thousand: with two workers, each sees its 500 canary rows (the default minimum
sample) after about 2,000 requests."""
CHUNK = 200
THREADS = 4


def send(url: str, rows: list[dict[str, Any]], registry: ModelRegistry, until_gone: int) -> int:
    """Single-entity requests from a few threads, in chunks, up to :data:`MAX_REQUESTS` or until
    the canary alias no longer names ``until_gone``; how many were sent."""
    cycle = itertools.cycle(rows)
    statuses: Counter[int] = Counter()
    sent = 0
    clients = [httpx.Client(base_url=url, timeout=30) for _ in range(THREADS)]

    def post(i: int, row: dict[str, Any]) -> int:
        return clients[i % THREADS].post("/score", json={"entities": [row]}).status_code

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            while sent < MAX_REQUESTS and registry.aliases("fraud").canary == until_gone:
                chunk = [next(cycle) for _ in range(CHUNK)]
                statuses.update(pool.map(post, range(CHUNK), chunk))
                sent += CHUNK
    finally:
        for client in clients:
            client.close()
    assert set(statuses) == {200}, statuses
    return sent


def rollbacks(url: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = httpx.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=10).text
    return select(parse_samples(text), "scorer_canary_rollbacks_total")


def test_the_guard_keeps_a_healthy_canary_and_removes_one_on_inverted_labels(
    settings: Settings, canary_models: CanaryModels, demo_repo: DemoRepo, tmp_path: Path
) -> None:
    canary_models.copy_to(tmp_path)
    own = settings.model_copy(update={"data_dir": tmp_path, "reload_interval_s": 0.2})
    registry = ModelRegistry(own.models_dir)
    healthy, inverted = canary_models.retrain, canary_models.inverted
    registry.set_alias("fraud", "canary", healthy, WEIGHT, why="a retrain")
    rows = demo_rows(demo_repo, 5000)  # many entities, as in production: each keeps its version
    server = ServerProcess(own, workers=2).start()
    try:
        # The healthy retrain under the whole load: nothing trips.
        assert send(server.url, rows, registry, until_gone=healthy) == MAX_REQUESTS
        assert registry.aliases("fraud").canary == healthy
        assert [h for h in registry.history("fraud") if h["who"] == "guard"] == []
        assert rollbacks(server.url) == {}

        registry.set_alias("fraud", "canary", inverted, WEIGHT, why="labels inverted")
        sent = send(server.url, rows, registry, until_gone=inverted)
        assert sent < MAX_REQUESTS, "the inverted canary was not removed"
        aliases = httpx.get(f"{server.url}/models/fraud", timeout=10).json()
        assert aliases["aliases"]["canary"] is None
        assert aliases["aliases"]["canary_weight"] == 0.0
        [line] = [h for h in aliases["history"] if h["who"] == "guard"]
        assert (line["alias"], line["old"], line["new"]) == ("canary", inverted, None)
        assert line["why"].startswith(f"canary v{inverted}: PSI of canary scores")
        details = line["details"]
        assert details["reason"] == "score_psi"
        assert details["version"] == inverted
        assert details["score_psi"] > 0.5
        assert details["canary"]["rows"] >= 500
        assert details["champion"]["rows"] >= 500
        # Every worker follows the registry: the champion answers everyone again.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answers = [
                httpx.post(
                    f"{server.url}/score", json={"entities": [row]},
                    headers={"Connection": "close"}, timeout=10,
                ).json()["version"]
                for row in rows[:40]
            ]  # fmt: skip
            if set(answers) == {1}:
                break
            time.sleep(0.2)
        assert set(answers) == {1}
        # Counted once, whichever worker removed it, however many tripped.
        assert rollbacks(server.url) == {(("model", "fraud"), ("reason", "score_psi")): 1.0}
    finally:
        server.stop()
    log = (tmp_path / "serve.log").read_text()
    assert log.count("canary guard removed canary fraud") == 1
