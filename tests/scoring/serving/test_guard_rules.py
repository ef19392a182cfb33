"""The canary guard's windows and rules, on figures made to be healthy or bad."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.serving.guard_rules import REASONS, GuardPolicy, VersionWindow, judge, score_psi

POLICY = GuardPolicy(window=1000, min_samples=200)
FEATURES = 10


def window(
    requests: int = 600,
    failed: int = 0,
    latency_s: float = 0.002,
    scores: np.ndarray | None = None,
    missing_per_row: int = 0,
    seed: int = 0,
) -> VersionWindow:
    """A version's window: ``requests`` single-row requests, ``failed`` of them failed."""
    rng = np.random.default_rng(seed)
    answered = requests - failed
    if scores is None:
        scores = rng.beta(1, 20, answered)  # a fraud score: most of it near 0
    latencies = latency_s * rng.uniform(0.8, 1.2, answered)
    w = VersionWindow(POLICY.window, FEATURES)
    w.answered(latencies.tolist(), scores[:answered].tolist(), [missing_per_row] * answered)
    w.failures(failed)
    return w


def test_a_healthy_canary_trips_no_rule() -> None:
    assert judge(window(seed=1), window(seed=2), POLICY) is None


def test_a_canary_failing_more_than_the_champion_trips_on_its_error_rate() -> None:
    trip = judge(window(failed=3), window(failed=60, seed=2), POLICY)
    assert trip is not None
    assert trip.reason == "error_rate"
    assert trip.figures["canary"]["error_rate"] == pytest.approx(0.1)
    assert trip.figures["champion"]["error_rate"] == pytest.approx(0.005)
    assert "error rate 10.0%" in trip.why


def test_errors_within_the_margin_or_under_the_floor_trip_nothing() -> None:
    # Both fail alike (the online store is flaky for everyone): within the margin.
    assert judge(window(failed=60), window(failed=66, seed=2), POLICY) is None
    # A margin of 0 and a champion that never fails: under the floor still does not trip.
    strict = GuardPolicy(window=1000, min_samples=200, error_rate_margin=0.0)
    assert judge(window(), window(failed=3, seed=2), strict) is None
    assert judge(window(), window(failed=12, seed=2), strict) is not None


def test_a_slow_canary_trips_on_its_p99_latency() -> None:
    trip = judge(window(latency_s=0.002), window(latency_s=0.05, seed=2), POLICY)
    assert trip is not None
    assert trip.reason == "latency"
    assert trip.figures["canary"]["p99_latency_s"] > 0.05
    # Twice as slow but within the slack: a millisecond's noise is not a regression.
    assert judge(window(latency_s=0.002), window(latency_s=0.004, seed=2), POLICY) is None


def test_mirrored_scores_trip_on_their_psi() -> None:
    rng = np.random.default_rng(3)
    champion = rng.beta(1, 20, 600)
    trip = judge(window(scores=champion), window(scores=1 - rng.beta(1, 20, 600)), POLICY)
    assert trip is not None
    assert trip.reason == "score_psi"
    assert trip.figures["score_psi"] > 5
    assert score_psi(champion, rng.beta(1, 20, 600)) < POLICY.score_psi


def test_a_canary_missing_more_features_trips_on_its_missing_rate() -> None:
    trip = judge(window(missing_per_row=0), window(missing_per_row=3, seed=2), POLICY)
    assert trip is not None
    assert trip.reason == "missing_rate"
    assert trip.figures["canary"]["missing_rate"] == pytest.approx(0.3)
    assert judge(window(missing_per_row=1), window(missing_per_row=1, seed=2), POLICY) is None


def test_no_rule_trips_below_the_minimum_sample() -> None:
    few = GuardPolicy(window=1000, min_samples=700)
    bad = window(failed=300, latency_s=1.0, scores=np.full(600, 0.99), missing_per_row=9)
    assert judge(window(), bad, few) is None
    assert judge(window(), bad, POLICY) is not None
    # The champion's sample counts too.
    assert judge(window(requests=100), bad, POLICY) is None


def test_the_window_keeps_the_latest_only() -> None:
    w = window(requests=600, failed=600)  # all failed...
    w.answered([0.001] * 1000, [0.1] * 1000, [0] * 1000)  # ...then 1,000 answered
    figures = w.figures()
    assert figures["requests"] == figures["rows"] == POLICY.window
    assert figures["error_rate"] == 0.0


def test_every_trip_names_one_of_the_bounded_reasons() -> None:
    bad = [
        window(failed=100, seed=2),
        window(latency_s=0.1, seed=2),
        window(scores=np.full(600, 0.9), seed=2),
        window(missing_per_row=5, seed=2),
    ]
    reasons = []
    for canary in bad:
        trip = judge(window(), canary, POLICY)
        assert trip is not None
        reasons.append(trip.reason)
    assert reasons == list(REASONS)
