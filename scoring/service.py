"""The scoring data plane: route a request to a model, read its features, score, answer."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from features.errors import FeatureStoreError
from features.readers import FeatureReader
from features.schema import FieldType, ServiceSchema
from scoring.batching import Computed, MicroBatcher, RowsToScore
from scoring.errors import InvalidRequest, ModelNotFound
from scoring.model import ScoringModel, load_model
from scoring.prediction_log import FeedbackLog, PredictionLog
from scoring.registry import ModelRegistry
from scoring.request import ScoreRequest, entity_rows

log = logging.getLogger(__name__)

# Below this many rows LightGBM predicts in tens of microseconds: a thread hop costs more.
_INLINE_PREDICT_ROWS = 64


@dataclass
class LoadedModels:
    """The versions currently answering, by model name. Replaced whole, never mutated."""

    champions: dict[str, ScoringModel] = field(default_factory=dict)
    default: str | None = None


class ScoringService:
    """Scores entity rows with the right model, knowing nothing of HTTP."""

    def __init__(
        self,
        registry: ModelRegistry,
        reader: FeatureReader,
        models: LoadedModels,
        prediction_log: PredictionLog | None = None,
        feedback_log: FeedbackLog | None = None,
        batching_max_rows: int = 0,
        batching_request_rows: int = 0,
    ) -> None:
        self.registry = registry
        self.reader = reader
        self.models = models
        self.prediction_log = prediction_log
        self.feedback_log = feedback_log
        self._batch_request_rows = batching_request_rows
        self.batcher = (
            MicroBatcher(self.compute, batching_max_rows) if batching_max_rows > 0 else None
        )

    async def compute(self, model: ScoringModel, requests: Sequence[RowsToScore]) -> Computed:
        """Read the requests' features, encode them in manifest order, score and log them.

        Logged here, once per computation: a micro-batch of small requests costs the log one
        append, and the rows are in the log before any of them is answered.
        """
        if len(requests) == 1:
            rows = requests[0].rows
        else:
            rows = [row for request in requests for row in request.rows]
        columns = await self.reader.read(model.schema.feature_service, rows)
        matrix, missing = model.encode(columns, len(rows))
        if len(rows) <= _INLINE_PREDICT_ROWS:
            scores = model.predict(matrix)
        else:
            scores = await asyncio.to_thread(model.predict, matrix)
        computed = Computed(columns=columns, scores=scores, missing=missing)
        if self.prediction_log is not None:
            self.prediction_log.append(model, requests, rows, computed, matrix, time.perf_counter())
        return computed

    def route(self, name: str | None) -> tuple[ScoringModel, str]:
        """The model version that answers a request for ``name``, and the route taken."""
        models = self.models
        name = name or models.default
        if name is None:
            if models.champions:
                served = ", ".join(sorted(models.champions))
                raise InvalidRequest(f"several models are served ({served}): name one in 'model'")
            raise ModelNotFound("no model is loaded; train and promote one first")
        model = models.champions.get(name)
        if model is None:
            known = ", ".join(sorted(models.champions)) or "none"
            raise ModelNotFound(f"model {name!r} is not served (loaded models: {known})")
        return model, "champion"

    async def score(self, request: ScoreRequest) -> dict[str, Any]:
        """Answer one ``/score`` request as the JSON-ready response body."""
        started = time.perf_counter()
        model, route = self.route(request.model)
        rows = entity_rows(model.schema, request.entities)
        scoring = RowsToScore(uuid.uuid4().hex, route, rows, started)
        n = len(rows)
        if self.batcher is not None and n <= self._batch_request_rows:
            computed = await self.batcher.submit(model, scoring)
        else:
            computed = await self.compute(model, [scoring])
        columns, scores, missing = computed.columns, computed.scores, computed.missing
        names = model.schema.feature_names
        post = model.manifest.postprocess
        negative, positive = post.labels
        score_list: list[float] = scores.tolist()
        labels = [positive if score >= post.threshold else negative for score in score_list]
        # Most rows miss nothing: only rows that do pay for building their list of names.
        with_missing: list[bool] = np.asarray(missing.any(axis=1)).tolist()
        names_array = np.array(names, dtype=object)
        predictions: list[dict[str, Any]] = []
        for i in range(n):
            prediction: dict[str, Any] = {
                "score": score_list[i],
                "label": labels[i],
                "missing": names_array[missing[i]].tolist() if with_missing[i] else [],
            }
            if request.include_features:
                prediction["features"] = {name: columns[name][i] for name in names}
            predictions.append(prediction)
        request_id = scoring.request_id
        return {
            "request_id": request_id,
            "model": model.name,
            "version": model.version,
            "predictions": predictions,
        }

    def feedback(self, items: Sequence[tuple[str, Any]]) -> int:
        """Record realized labels for earlier requests; returns how many were accepted."""
        if self.feedback_log is None:
            raise ModelNotFound("feedback is not recorded: the prediction log is disabled")
        self.feedback_log.append(items, datetime.now(UTC))
        return len(items)

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
        for name, model in self.models.champions.items():
            schema = model.schema
            try:
                await self.reader.read(schema.feature_service, [_made_up_row(schema)])
            except FeatureStoreError as exc:
                log.warning("warm-up read for model %s failed: %s", name, exc)


def _made_up_row(schema: ServiceSchema) -> dict[str, Any]:
    samples = {
        FieldType.INTEGER: 0,
        FieldType.NUMBER: 0.0,
        FieldType.STRING: "",
        FieldType.BOOLEAN: False,
    }
    return {f.name: samples[f.type] for f in (*schema.join_keys, *schema.request_fields)}


def load_champions(
    registry: ModelRegistry, default: str | None, previous: LoadedModels | None = None
) -> LoadedModels:
    """Load the champion of every registered model; fail loudly on a broken one.

    Versions already loaded in ``previous`` are reused rather than read again.
    """
    champions: dict[str, ScoringModel] = {}
    for name in registry.models():
        aliases = registry.aliases(name)
        if aliases.champion is None:
            continue
        loaded = previous.champions.get(name) if previous else None
        if loaded is not None and loaded.version == aliases.champion:
            champions[name] = loaded
        else:
            champions[name] = load_model(registry, name, aliases.champion)
    if default is not None and default not in champions:
        raise ModelNotFound(f"default model {default!r} has no champion version in the registry")
    if default is None and len(champions) == 1:
        default = next(iter(champions))
    return LoadedModels(champions=champions, default=default)
