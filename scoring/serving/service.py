"""The scoring data plane: route a request to a model, read its features, score, answer."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from features.circuit import CircuitBreaker
from features.errors import CircuitOpen, FeatureStoreError
from features.online_features import OnlineFeatures
from features.readers import FeatureReader
from features.schema import FieldType, ServiceSchema
from scoring.errors import (
    DeadlineExceeded,
    FeaturesAllMissing,
    InvalidRequest,
    LogDisabled,
    LogUnavailable,
    ModelNotFound,
    quoted,
)
from scoring.log.label_log import FeedbackLog
from scoring.log.prediction_log import PredictionLog
from scoring.logging_config import REQUEST_ID
from scoring.model.label_classes import class_of, class_text
from scoring.model.loaded import ScoringModel
from scoring.model.registry import ModelRegistry
from scoring.serving.answer import merged, predictions
from scoring.serving.batching import Computed, MicroBatcher, RowsToScore
from scoring.serving.feature_gaps import FeatureGaps, names_by_row, stale_matrix
from scoring.serving.guard import CanaryGuard
from scoring.serving.guard_rules import GuardPolicy
from scoring.serving.request import FeedbackItem, RequestProblems, ScoreRequest, entity_rows
from scoring.serving.routing import CHAMPION_ROUTE, RoutedRows, ServedVersions, split_by_version
from scoring.serving.served import ServedModels
from scoring.serving.service_metrics import UNKNOWN, ServiceMetrics, service_metrics
from scoring.serving.shared_read import read_features

log = logging.getLogger(__name__)

# Below this many rows LightGBM predicts in tens of microseconds: a thread hop costs more.
_INLINE_PREDICT_ROWS = 64

SHADOW_ROUTE = "shadow"
"""The ``route`` of a shadow's rows in the log; they are not counted as the answer's."""

MAX_SHADOWS_IN_FLIGHT = 1_000
"""Shadow scorings waiting at most; past it a worker is overloaded and skips (and counts) them."""


class ScoringService:
    """Scores entity rows with the right model, knowing nothing of HTTP."""

    def __init__(
        self,
        registry: ModelRegistry,
        reader: FeatureReader,
        models: ServedModels,
        prediction_log: PredictionLog | None = None,
        feedback_log: FeedbackLog | None = None,
        batching_max_rows: int = 0,
        batching_request_rows: int = 0,
        reject_all_missing: bool = False,
        budget_s: float = math.inf,
        circuit: CircuitBreaker | None = None,
        metrics: ServiceMetrics | None = None,
        guard: GuardPolicy | None = None,
    ) -> None:
        self.registry = registry
        self.reader = reader
        self.models = models
        self.prediction_log = prediction_log
        self.feedback_log = feedback_log
        self._batch_request_rows = batching_request_rows
        self.budget_s = budget_s
        """A request's time budget from its arrival: past it, it is answered 503."""
        self.circuit = circuit
        """The online store's circuit breaker (the reader's reads go through it), if any."""
        self._shadows: set[asyncio.Task[None]] = set()
        self.shadow_failures = 0
        self.shadows_dropped = 0
        self.metrics = metrics or service_metrics(None)
        """Where requests, reads and feature gaps are counted as they happen."""
        self._online_read = self.metrics.online_read
        self.gaps = FeatureGaps(reject=reject_all_missing, metrics=self.metrics)
        """Rows without stored features and stale features, and the policy for the former."""
        self.batcher = (
            MicroBatcher(self.compute, batching_max_rows) if batching_max_rows > 0 else None
        )
        self.guard = CanaryGuard(registry, guard, self.metrics) if guard is not None else None
        """Compares each canary with its champion and removes it when it trips; None: off."""

    async def compute(self, model: ScoringModel, requests: Sequence[RowsToScore]) -> Computed:
        """Read the requests' features, encode them in manifest order, score and log them.

        Logged here, once per computation: a micro-batch of small requests costs the log one
        append, and the rows are in the log before any of them is answered.
        """
        if len(requests) == 1:
            rows = requests[0].rows
            deadline = requests[0].deadline
        else:
            rows = [row for request in requests for row in request.rows]
            deadline = max(request.deadline for request in requests)  # see batching
        now = time.perf_counter()
        left = deadline - now
        if left <= 0:
            raise DeadlineExceeded(
                f"the request's time budget ({self.budget_s:g} s) ran out before its features "
                "were read"
            )
        guard = self.guard if requests[0].route != SHADOW_ROUTE else None
        try:
            columns = await read_features(self.reader, model.schema.feature_service, rows, left)
            self._online_read.observe(time.perf_counter() - now)
            matrix, missing = model.encode(columns, len(rows))
            if len(rows) <= _INLINE_PREDICT_ROWS:
                scores = model.predict(matrix)
            else:
                scores = await asyncio.to_thread(model.predict, matrix)
        except Exception:
            if guard is not None:  # the version's failure, not the request's: counted against it
                guard.record(self.models.served.get(model.name), model, requests, None, 0.0)
            raise
        stale = stored = None
        names = model.schema.feature_names
        if isinstance(columns, OnlineFeatures):
            stored = self.gaps.stored_mask(model, columns.stored)
            stale = stale_matrix(names, columns.stale, len(rows))
        missing_names = stale_names = None
        # A batch is of one version, so all shadow or none: a shadow's rows are not answered
        # (nor counted). For the others, the names each row misses are worked out once.
        if requests[0].route != SHADOW_ROUTE:
            self.gaps.count(model, missing, stale, stored)
            missing_names = names_by_row(missing, names)
            stale_names = None if stale is None else names_by_row(stale, names)
        computed = Computed(columns, scores, missing, stale, stored, missing_names, stale_names)
        finished = time.perf_counter()
        if guard is not None:
            served = self.models.served.get(model.name)
            if served is not None and served.canary is not None:
                guard.record(served, model, requests, computed, finished)
        if self.prediction_log is not None:
            self.prediction_log.append(model, requests, rows, computed, matrix, finished)
        return computed

    def served_versions(self, name: str | None) -> ServedVersions:
        """The versions that answer a request for ``name`` (the default model when None)."""
        models = self.models
        name = name or models.default
        if name is None:
            if models.served:
                served = ", ".join(sorted(models.served))
                raise InvalidRequest(f"several models are served ({served}): name one in 'model'")
            raise ModelNotFound("no model is loaded; train and promote one first")
        serving = models.served.get(name)
        if serving is None:
            known = ", ".join(sorted(models.served)) or "none"
            raise ModelNotFound(f"model {quoted(name)} is not served (loaded models: {known})")
        return serving

    def route_version(self, name: str, version: int) -> tuple[ScoringModel, str]:
        """Served ``version`` of ``name`` and its alias (see :meth:`ServedVersions.pinned`)."""
        return self.served_versions(name).pinned(version)

    def served_label(self, name: str | None) -> str:
        """The ``model`` label of a request for ``name``: the name if it is served, else
        :data:`UNKNOWN`, so that no client's made-up name becomes a label value."""
        models = self.models
        name = name or models.default
        return name if name is not None and name in models.served else UNKNOWN

    async def score(
        self,
        request: ScoreRequest,
        request_id: str | None = None,
        route: str | None = None,
        version: int | None = None,
    ) -> dict[str, Any]:
        """Answer one ``/score`` request as the JSON-ready response body.

        ``request_id`` is the caller's id for it (a stream entry's id), made up when None;
        ``route`` is what the log records instead of the version's alias (``stream``);
        ``version`` pins the served version that answers (see :meth:`route_version`).
        """
        started = time.perf_counter()
        circuit = self.circuit
        if circuit is not None and circuit.is_open and circuit.refuses():
            # Refused before queueing: not behind a probe that may take the whole budget.
            raise CircuitOpen(circuit.describe())
        serving = self.served_versions(request.model)
        model, alias = serving.champion, CHAMPION_ROUTE
        if version is not None:  # named by the request (a versioned infer): it answers every row
            model, alias = serving.pinned(version)
        rows = entity_rows(model.schema, request.entities)
        parts = None
        if serving.canary is not None and version is None:  # without a canary nothing is hashed
            parts = split_by_version(serving, rows, request.entities)
            if len(parts) == 1:  # one version's rows (a single entity's always are)
                model, alias, rows = parts[0].model, parts[0].route, parts[0].rows
                parts = None
        request_id = request_id or uuid.uuid4().hex
        REQUEST_ID.set(request_id)  # this task's log lines carry it from here (and its shadow's)
        deadline = started + self.budget_s
        if parts is None:
            scoring = RowsToScore(request_id, route or alias, rows, started, deadline)
            computed = await self._computed(model, scoring)
            self.gaps.refuse_if_nothing_stored(model, computed.missing, computed.stored)
            answered = predictions(model, computed, request.include_features)
            answered_by = model.version
        else:
            answered = await self._split_answer(
                parts, request, RowsToScore(request_id, route or "", [], started, deadline)
            )
            # The rows' versions differ: the champion's, each prediction then naming its own.
            answered_by = serving.champion.version
        if serving.shadow is not None:
            self._start_shadow(serving.shadow, request.entities, request_id, started)
        return {
            "request_id": request_id,
            "model": model.name,
            "version": answered_by,
            "predictions": answered,
        }

    async def _split_answer(
        self, parts: Sequence[RoutedRows], request: ScoreRequest, scoring: RowsToScore
    ) -> list[dict[str, Any]]:
        """The predictions of a request whose rows several versions answer, in its order.

        Each version's rows go the same way as a whole request's (micro-batched, logged under
        their own version and route), at once; ``scoring`` gives the request's id, times and
        route ("" for each part's own).
        """
        computations = await asyncio.gather(
            *(
                self._computed(
                    part.model,
                    replace(scoring, route=scoring.route or part.route, rows=part.rows),
                )
                for part in parts
            )
        )
        refused = []
        for part, computed in zip(parts, computations, strict=True):
            try:
                self.gaps.refuse_if_nothing_stored(part.model, computed.missing, computed.stored)
            except FeaturesAllMissing as exc:
                refused.append(exc)
        if len(refused) == len(parts):  # as for one version: no row had anything stored
            raise refused[0]
        include = request.include_features
        answered = [
            predictions(part.model, computed, include)
            for part, computed in zip(parts, computations, strict=True)
        ]
        return merged(parts, answered)

    async def _computed(self, model: ScoringModel, scoring: RowsToScore) -> Computed:
        """The rows of one request scored by ``model``: micro-batched when small enough."""
        if self.batcher is not None and len(scoring.rows) <= self._batch_request_rows:
            computed = await self.batcher.submit(model, scoring)
        else:
            computed = await self.compute(model, [scoring])
        return computed

    def _start_shadow(
        self,
        shadow: ScoringModel,
        entities: list[dict[str, Any]],
        request_id: str,
        started: float,
    ) -> None:
        """Score the request's rows with the shadow version too, after the answer, unseen."""
        if len(self._shadows) >= MAX_SHADOWS_IN_FLIGHT:
            self.shadows_dropped += 1  # overloaded: the answers come first
            self.metrics.shadow_dropped.inc()
            return

        async def score_shadow() -> None:
            try:
                rows = entity_rows(shadow.schema, entities)
                # A budget of its own: the answer it shadows may have used most of the request's.
                deadline = time.perf_counter() + self.budget_s
                scoring = RowsToScore(request_id, SHADOW_ROUTE, rows, started, deadline)
                await self._computed(shadow, scoring)
            except Exception as exc:  # a shadow never fails, nor delays, the request it shadows
                self.shadow_failures += 1
                self.metrics.shadow_failures.inc()
                if self.shadow_failures % 1000 == 1:  # a broken shadow fails on every request
                    log.warning(
                        "shadow %s v%d could not score request %s (%d failures so far): %s",
                        shadow.name, shadow.version, request_id, self.shadow_failures, exc,
                    )  # fmt: skip

        task = asyncio.create_task(score_shadow())
        self._shadows.add(task)
        task.add_done_callback(self._shadows.discard)

    async def drain_shadows(self, timeout_s: float) -> None:
        """Wait for the shadow scoring in flight (at shutdown, before the batcher stops)."""
        if self._shadows:
            await asyncio.wait(set(self._shadows), timeout=timeout_s)

    def feedback(self, items: Sequence[FeedbackItem]) -> int:
        """Record realized labels for earlier requests; returns how many were accepted.

        Each label is read as one of its model's classes and kept in one form (see
        :mod:`scoring.model.label_classes`); a label that names no class is refused with the
        rest. All or none: a log that cannot take them now raises :class:`LogUnavailable` and
        none is recorded, so a client can send the same labels again later.
        """
        if self.feedback_log is None:
            raise LogDisabled(
                "feedback is not recorded: the prediction log is disabled (SCORER_LOG_ENABLED)"
            )
        pairs = self._feedback_pairs(items)
        if not self.feedback_log.append(pairs, datetime.now(UTC)):
            raise LogUnavailable(
                f"the feedback log cannot take {len(items)} more label(s) now; "
                "none was recorded, send them again later"
            )
        return len(items)

    def _feedback_pairs(self, items: Sequence[FeedbackItem]) -> list[tuple[str, str]]:
        """``(request_id, class text)`` of every item, or every item's problem at once."""
        classes: dict[str | None, tuple[str, tuple[Any, Any]]] = {}
        pairs: list[tuple[str, str]] = []
        problems: list[dict[str, Any]] = []
        single = len(items) == 1
        for i, item in enumerate(items):
            if item.model not in classes:
                classes[item.model] = self._classes(item.model)
            name, labels = classes[item.model]
            cls = class_of(item.label, labels)
            if cls is not None:
                pairs.append((item.request_id, class_text(cls)))
                continue
            negative, positive = labels
            where = "feedback" if single else f"feedback[{i}]"
            message = (
                f"{where}: label {quoted(item.label)} is not a class of model {name!r}: send "
                f"{positive!r} or {negative!r} (or true/false)"
            )
            problems.append({"item": i, "field": "label", "message": message})
            if len(problems) >= 20:  # enough to fix the client; don't build a huge error body
                break
        if problems:
            raise RequestProblems(problems)
        return pairs

    def _classes(self, name: str | None) -> tuple[str, tuple[Any, Any]]:
        """The model a feedback item labels (the default when unnamed) and its classes."""
        champion = self.served_versions(name).champion  # raises what /score would
        return champion.name, champion.manifest.postprocess.labels

    def probe_row(self) -> tuple[str, dict[str, Any]] | None:
        """A made-up row for the default model, used to check that the online store answers."""
        name = self.models.default or next(iter(self.models.champions), None)
        if name is None:
            return None
        schema = self.models.champions[name].schema
        return schema.feature_service, _made_up_row(schema)

    async def warm_up(self) -> None:
        """Read a made-up row for every served model before the first request does.

        The first read of a feature service resolves it through Feast's registry and opens
        the store's connections: tens of milliseconds no client should wait for.
        """
        for model in self.models.all_versions():
            schema = model.schema
            try:
                await self.reader.read(schema.feature_service, [_made_up_row(schema)])
            except FeatureStoreError as exc:
                log.warning(
                    "warm-up read for model %s v%d failed: %s", model.name, model.version, exc
                )


def _made_up_row(schema: ServiceSchema) -> dict[str, Any]:
    samples = {
        FieldType.INTEGER: 0,
        FieldType.NUMBER: 0.0,
        FieldType.STRING: "",
        FieldType.BOOLEAN: False,
    }
    return {f.name: samples[f.type] for f in (*schema.join_keys, *schema.request_fields)}
