"""The canary guard under stream scoring: a consumer scores through the same service, so a bad
canary is removed from the stream's traffic as from ``/score``'s."""

from __future__ import annotations

from scoring.model.registry import ModelRegistry
from scoring.settings import Settings
from tests.scoring.stream.test_consumer import consume_until
from tests.utils.canaries import CanaryModels, demo_rows
from tests.utils.repo import DemoRepo
from tests.utils.stream import add_events, client_of

EVENTS = 4000


def test_a_canary_on_inverted_labels_is_removed_while_a_stream_is_scored(
    stream_settings: Settings, demo_repo: DemoRepo, canary_models: CanaryModels
) -> None:
    s = stream_settings
    inverted = canary_models.inverted
    canary_models.add_version(s.models_dir, inverted)
    registry = ModelRegistry(s.models_dir)
    registry.set_alias("fraud", "canary", inverted, 0.5, why="labels inverted")
    client = client_of(s)
    add_events(client, s.stream_requests, [{"entities": [e]} for e in demo_rows(demo_repo, EVENTS)])

    consume_until(
        s,
        lambda: registry.aliases("fraud").canary is None or client.xlen(s.stream_results) >= EVENTS,
    )

    assert registry.aliases("fraud").canary is None
    [line] = [h for h in registry.history("fraud") if h["who"] == "guard"]
    assert line["details"]["reason"] == "score_psi"
    assert line["old"] == inverted
