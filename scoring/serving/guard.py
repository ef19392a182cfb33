"""The canary guard: while a canary serves, each worker compares it with the champion and
removes the canary alias itself when the canary does clearly worse.

Every computation of a model's champion or canary is recorded (failed or not, each request's
latency, each row's score and missing features) in the model's windows
(:mod:`scoring.serving.guard_rules`), a few appends to ring buffers. The rules run every
:data:`EVALUATE_EVERY` canary rows, not per request. When one trips, the alias is removed
through the registry (in a thread, under its lock, only if it still names the version that
tripped: another worker may have removed it first, or a person pointed it elsewhere), with
``who="guard"``, a sentence naming the rule, and the figures in the history line. Every
worker and process then follows the registry as it follows any alias change. Each removal is
counted once, in ``scorer_canary_rollbacks_total{model,reason}``. A registry that cannot be
written is logged and tried again, no more often than every :data:`RETRY_MIN_S` doubling to
:data:`RETRY_MAX_S`, while the canary keeps serving.

Promotion is never the guard's: it only ever removes a canary.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from scoring.errors import AliasMoved, ScoringError
from scoring.model.loaded import ScoringModel
from scoring.model.registry import ModelRegistry
from scoring.serving.batching import Computed, RowsToScore
from scoring.serving.guard_rules import GuardPolicy, Trip, VersionWindow, judge
from scoring.serving.routing import ServedVersions
from scoring.serving.service_metrics import ServiceMetrics

log = logging.getLogger(__name__)

EVALUATE_EVERY = 250
"""Canary rows between two looks at the rules: a look costs about 0.6 ms (windows of 2,000),
some 1 us a request at a canary weight of 0.5, and delays a trip by 250 canary rows at most."""

RETRY_MIN_S = 1.0
RETRY_MAX_S = 60.0
"""After a failed removal, the next try waits this long at least, doubling up to the max."""


@dataclass
class _Watch:
    """One model's champion and canary windows, for the versions they were opened for."""

    champion_version: int
    canary_version: int
    champion: VersionWindow
    canary: VersionWindow
    rows_since_look: int = 0
    tripped_on: ServedVersions | None = None
    """What was served when a rule tripped; the rules rest until that changes."""
    retry_at: float = 0.0
    backoff_s: float = RETRY_MIN_S


class CanaryGuard:
    """Per worker: each model's canary against its champion; removes the canary on a trip."""

    def __init__(
        self,
        registry: ModelRegistry,
        policy: GuardPolicy,
        metrics: ServiceMetrics,
        evaluate_every: int = EVALUATE_EVERY,
    ) -> None:
        self.registry = registry
        self.policy = policy
        self._metrics = metrics
        self._every = evaluate_every
        self._watches: dict[str, _Watch] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.removals = 0
        """Canaries this worker removed."""

    def record(
        self,
        served: ServedVersions | None,
        model: ScoringModel,
        requests: Sequence[RowsToScore],
        computed: Computed | None,
        now: float,
    ) -> None:
        """Record one computation of ``model`` (``computed`` None when it failed)."""
        canary = served.canary if served is not None else None
        if canary is None or served is None:
            if self._watches:
                self._watches.pop(model.name, None)  # a canary that comes back starts afresh
            return
        watch = self._watches.get(model.name)
        version = model.version
        if (
            watch is None
            or watch.canary_version != canary.version
            or watch.champion_version != served.champion.version
            or (watch.tripped_on is not None and watch.tripped_on is not served)
        ):
            if canary.version == served.champion.version:
                return  # nothing to compare
            watch = self._watches[model.name] = self._open(served, canary)
        if version == watch.canary_version:
            window = watch.canary
        elif version == watch.champion_version:
            window = watch.champion
        else:  # a version no longer served, finishing a batch
            return
        if computed is None:
            window.failures(len(requests))
            rows = sum(len(r.rows) for r in requests)
        else:
            scores = computed.scores.tolist()
            rows = len(scores)
            names = computed.missing_names
            window.answered(
                [now - r.started for r in requests],
                scores,
                itertools.repeat(0, rows) if names is None else map(len, names),
            )
        if window is watch.canary:
            watch.rows_since_look += rows
            if watch.rows_since_look >= self._every and watch.tripped_on is None:
                watch.rows_since_look = 0
                self._look(model.name, served, watch)

    def _open(self, served: ServedVersions, canary: ScoringModel) -> _Watch:
        size = self.policy.window
        return _Watch(
            champion_version=served.champion.version,
            canary_version=canary.version,
            champion=VersionWindow(size, len(served.champion.schema.feature_names)),
            canary=VersionWindow(size, len(canary.schema.feature_names)),
        )

    def _look(self, name: str, served: ServedVersions, watch: _Watch) -> None:
        """Run the rules; on a trip, remove the canary in the background."""
        if time.monotonic() < watch.retry_at:
            return
        trip = judge(watch.champion, watch.canary, self.policy)
        if trip is None:
            return
        watch.tripped_on = served
        task = asyncio.create_task(self._remove(name, watch, trip), name=f"guard-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _remove(self, name: str, watch: _Watch, trip: Trip) -> None:
        """Clear the canary alias if it still names the version that tripped; count it once."""
        version = watch.canary_version
        why = f"canary v{version}: {trip.why}"
        details = {"reason": trip.reason, "version": version, **trip.figures}
        try:
            await asyncio.to_thread(
                self.registry.set_alias, name, "canary", None,
                who="guard", why=why, details=details, expected=version,
            )  # fmt: skip
        except AliasMoved as exc:  # another worker removed it first, or a person moved it
            log.info("canary guard of %s: not removed, %s", name, exc)
            return
        except (ScoringError, OSError) as exc:
            # Keep serving; the rules look again after the back-off and try once more.
            watch.tripped_on = None
            watch.retry_at = time.monotonic() + watch.backoff_s
            log.error(
                "canary guard of %s: %s tripped but the registry cannot be written (%s); "
                "trying again in %g s", name, why, exc, watch.backoff_s,
            )  # fmt: skip
            watch.backoff_s = min(watch.backoff_s * 2, RETRY_MAX_S)
            return
        self.removals += 1
        self._metrics.canary_rollback(name, trip.reason)
        log.warning(
            "canary guard removed canary %s v%d: %s; figures: %s",
            name, version, trip.why, json.dumps(trip.figures, sort_keys=True),
        )  # fmt: skip

    async def stop(self, timeout_s: float) -> None:
        """Let removals in flight finish (their history line and count), then cancel them."""
        tasks = set(self._tasks)
        if not tasks:
            return
        await asyncio.wait(tasks, timeout=timeout_s)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
