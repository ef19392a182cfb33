"""The canary split and what of an alias file changes what is served."""

from __future__ import annotations

import pytest

from scoring.model.registry import Aliases
from scoring.serving.routing import CanarySplit, serving_aliases


@pytest.mark.parametrize(
    ("weight", "every"),
    [(0.25, 4), (0.1, 10), (0.5, 2), (1.0, 1), (1 / 3, 3)],
)
def test_the_canary_gets_its_exact_share_spread_evenly(weight: float, every: int) -> None:
    split = CanarySplit()
    picks = [split.to_canary("fraud", weight) for _ in range(every * 50)]
    assert sum(picks) == 50
    # Evenly: one canary request in every run of ``every`` requests, never two together.
    assert all(sum(picks[i : i + every]) == 1 for i in range(0, len(picks), every))


def test_no_share_no_canary_and_models_keep_their_own_credit() -> None:
    split = CanarySplit()
    assert not any(split.to_canary("fraud", 0.0) for _ in range(1000))
    mixed = [(split.to_canary("a", 0.5), split.to_canary("b", 0.25)) for _ in range(8)]
    assert sum(a for a, _ in mixed) == 4
    assert sum(b for _, b in mixed) == 2


def test_a_canary_without_a_share_is_not_served() -> None:
    assert serving_aliases(Aliases(champion=1, canary=2, canary_weight=0.0, shadow=3)) == Aliases(
        champion=1, shadow=3
    )
    assert serving_aliases(Aliases(champion=1, canary=None, canary_weight=0.5)) == Aliases(
        champion=1
    )
    live = Aliases(champion=1, canary=2, canary_weight=0.2)
    assert serving_aliases(live) == live
