"""The bench's model with a canary: registered beside ``fraud``, served with a split of entities."""

from __future__ import annotations

from pathlib import Path

from bench.http_load import Subject, canary_share, score_bodies
from bench.servers import ServerProcess as BenchServer
from bench.workspace import add_canary_twin, entity_sample
from scoring.model.registry import ModelRegistry
from scoring.settings import Settings
from tests.utils.repo import DemoRepo
from tests.utils.server import ServerProcess


def test_the_twin_serves_the_model_with_a_canary_taking_its_share_of_entities(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    registry = ModelRegistry(own_settings.data_dir / "models")
    champion = registry.aliases("fraud").champion
    assert champion is not None
    add_canary_twin(registry, "fraud", champion, "fraud_twin", 0.2)

    aliases = registry.aliases("fraud_twin")
    assert (aliases.champion, aliases.canary, aliases.canary_weight) == (1, 2, 0.2)
    source = registry.version_dir("fraud", champion) / "model.txt"
    for version in (1, 2):
        assert (registry.version_dir("fraud_twin", version) / "model.txt").read_bytes() == (
            source.read_bytes()
        )
        manifest = registry.manifest("fraud_twin", version)
        assert (manifest.name, manifest.version) == ("fraud_twin", version)
    assert registry.aliases("fraud").canary is None  # the model itself is left as it was

    server = ServerProcess(own_settings, workers=1).start()
    try:
        bench_server = BenchServer("scorer", [], {}, "/", Path("unused.log"), server.port)
        entities = entity_sample(demo_repo.data.transactions, 300, seed=7)
        twin = Subject("twin", "twin", bench_server, "/score", score_bodies("fraud_twin", entities))
        plain = Subject("plain", "plain", bench_server, "/score", score_bodies("fraud", entities))
        share = canary_share(twin)
        assert 0.1 < share < 0.3  # 300 entities by their hash: about 0.2
        assert canary_share(plain) == 0.0
    finally:
        server.stop()
