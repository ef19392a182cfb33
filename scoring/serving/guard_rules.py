"""The canary guard's window and rules: is a canary doing worse than its champion right now?

Each version keeps its latest requests (failed or not, how long they took) and rows (score,
missing features) in fixed-size ring buffers, so memory is bounded whatever the traffic. The
rules compare the canary with the champion over those windows and name the first that trips:

- ``error_rate``: the canary's failed share is above the champion's by a margin, and above a
  floor. A failure is the computation's (the online read, the model), never the client's:
  a body that does not fit is refused before any version scores it.
- ``latency``: the canary's p99 is above a factor of the champion's plus a slack.
- ``score_psi``: the PSI (:func:`drift.stats.psi`) of the canary's scores against the
  champion's, in bins at the champion's score deciles (:func:`drift.profile.bin_edges`, as
  the drift reports bin). A sticky canary answers other entities than the champion, so two
  equal models differ by sampling noise only: with 500 rows each, PSI over 10 bins is about
  ``(1/500 + 1/500) * chi2(9)``, 0.036 on average and 0.087 at its 99th percentile (see
  :func:`drift.stats.psi_noise_floor`). Two honest models differ more: quantile bins of a
  fraud score, most of it near 0, move with any recalibration. On the demo data a retrain
  with another seed measured 0.13 over 3,000 entities each, 0.16 on average and 0.23 at the
  99th percentile in windows of 500 rows; a model trained on inverted labels mirrors the
  scores and measured 8.3. The default threshold, 0.5, is twice the healthy retrain's worst
  and a sixteenth of the inverted model's.
- ``missing_rate``: the canary's share of missing feature values is above the champion's by a
  margin (a feature service of its own whose new view was never materialized, say).

No rule trips before both versions have a minimum number of requests (or rows) in the window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from drift.profile import bin_edges
from drift.stats import bin_counts, psi

REASONS = ("error_rate", "latency", "score_psi", "missing_rate")
"""Why a guard removes a canary: the ``reason`` label of ``scorer_canary_rollbacks_total``."""


@dataclass(frozen=True)
class GuardPolicy:
    """The guard's window, minimum sample and thresholds (``SCORER_GUARD_*``)."""

    window: int = 2000
    min_samples: int = 500
    error_rate_margin: float = 0.02
    error_rate_floor: float = 0.01
    latency_factor: float = 2.0
    latency_slack_s: float = 0.025
    score_psi: float = 0.5
    missing_rate_margin: float = 0.1


class VersionWindow:
    """The latest requests and rows one version answered (or failed), in ring buffers."""

    __slots__ = ("failed", "features", "latencies", "missing", "scores")

    def __init__(self, size: int, features: int) -> None:
        self.failed: deque[int] = deque(maxlen=size)
        """1 for each failed request, 0 for each answered one."""
        self.latencies: deque[float] = deque(maxlen=size)
        """Seconds from each answered request's arrival to its scores."""
        self.scores: deque[float] = deque(maxlen=size)
        self.missing: deque[int] = deque(maxlen=size)
        """Missing (or stale) features of each row."""
        self.features = max(features, 1)

    def answered(
        self, latencies: Iterable[float], scores: Iterable[float], missing: Iterable[int]
    ) -> None:
        """Record answered requests and their rows."""
        for latency in latencies:
            self.failed.append(0)
            self.latencies.append(latency)
        self.scores.extend(scores)
        self.missing.extend(missing)

    def failures(self, requests: int) -> None:
        """Record failed requests."""
        self.failed.extend([1] * requests)

    def figures(self) -> dict[str, Any]:
        """What the rules read: counts, error rate, p99 latency, missing share."""
        requests, rows = len(self.failed), len(self.missing)
        p99 = (
            float(np.quantile(np.fromiter(self.latencies, np.float64), 0.99))
            if self.latencies
            else None
        )
        return {
            "requests": requests,
            "error_rate": sum(self.failed) / requests if requests else 0.0,
            "p99_latency_s": p99,
            "rows": rows,
            "missing_rate": sum(self.missing) / (rows * self.features) if rows else 0.0,
        }


@dataclass(frozen=True)
class Trip:
    """A rule that tripped: its reason, a sentence naming it, and the figures."""

    reason: str
    why: str
    figures: dict[str, Any]


def score_psi(champion: Iterable[float], canary: Iterable[float]) -> float:
    """PSI of the canary's scores against the champion's, in bins at the champion's deciles."""
    reference = np.fromiter(champion, np.float64)
    current = np.fromiter(canary, np.float64)
    edges = bin_edges(reference)
    return psi(bin_counts(reference, edges), bin_counts(current, edges))


def judge(champion: VersionWindow, canary: VersionWindow, policy: GuardPolicy) -> Trip | None:
    """The first rule the canary trips against the champion, or None (also on too few samples)."""
    ours, theirs = canary.figures(), champion.figures()
    enough = policy.min_samples
    requests = min(ours["requests"], theirs["requests"]) >= enough
    answered = min(len(canary.latencies), len(champion.latencies)) >= enough
    rows = min(ours["rows"], theirs["rows"]) >= enough
    if not (requests or rows):
        return None
    psi_value = score_psi(champion.scores, canary.scores) if rows else None
    figures = {
        "canary": ours,
        "champion": theirs,
        "score_psi": None if psi_value is None else round(psi_value, 6),
    }
    if requests:
        rate, limit = ours["error_rate"], theirs["error_rate"] + policy.error_rate_margin
        if rate > limit and rate > policy.error_rate_floor:
            why = (
                f"canary error rate {rate:.1%} over the champion's "
                f"{theirs['error_rate']:.1%} + {policy.error_rate_margin:.1%}"
            )
            return Trip("error_rate", why, figures)
    if answered:
        p99, theirs_p99 = ours["p99_latency_s"], theirs["p99_latency_s"]
        limit = policy.latency_factor * theirs_p99 + policy.latency_slack_s
        if p99 > limit:
            why = (
                f"canary p99 latency {p99 * 1000:.1f} ms over {policy.latency_factor:g} x the "
                f"champion's {theirs_p99 * 1000:.1f} ms + {policy.latency_slack_s * 1000:g} ms"
            )
            return Trip("latency", why, figures)
    if psi_value is not None:
        if psi_value > policy.score_psi:
            why = (
                f"PSI of canary scores against the champion's {psi_value:.3f} over "
                f"{policy.score_psi:g}"
            )
            return Trip("score_psi", why, figures)
        rate, limit = ours["missing_rate"], theirs["missing_rate"] + policy.missing_rate_margin
        if rate > limit:
            why = (
                f"canary missing-feature rate {rate:.1%} over the champion's "
                f"{theirs['missing_rate']:.1%} + {policy.missing_rate_margin:.1%}"
            )
            return Trip("missing_rate", why, figures)
    return None
