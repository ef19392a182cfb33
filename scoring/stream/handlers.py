"""What an event of each stream means: a ``/score`` body to score, or a ``/push`` body to write.

A handler returns the event's result (JSON bytes; None when the event has none, as a push),
or raises the error ``/score`` or ``/push`` would answer with; the consumer turns that error
into a dead letter, or a retry.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from features.errors import FeatureStoreError
from features.push import FeaturePusher
from scoring.errors import InvalidRequest, ScoringError
from scoring.serving.problems import status_of
from scoring.serving.push_request import parse_push
from scoring.serving.request import parse_score_request
from scoring.serving.service import ScoringService
from scoring.serving.service_metrics import UNKNOWN
from scoring.stream.transport import Event

STREAM_ROUTE = "stream"
"""The ``route`` of stream events in the prediction log and in ``scorer_requests_total``."""

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def event_json(event: Event, what: str) -> Any:
    """The event's ``body``, parsed; InvalidRequest when it has none or it is not JSON."""
    if event.body is None:
        raise InvalidRequest(f"the entry has no 'body' field: it must hold a {what} body (JSON)")
    try:
        # orjson refuses NaN and Infinity, which JSON does not have either.
        return orjson.loads(event.body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the entry's body is not valid JSON: {exc}") from exc


class ScoreEvents:
    """Scores an event's ``/score`` body as ``/score`` does, with the entry's id as its
    ``request_id`` and ``stream`` as its route; its result is what ``/score`` would answer."""

    def __init__(self, service: ScoringService, max_batch_rows: int) -> None:
        self._service = service
        self._max_rows = max_batch_rows

    async def __call__(self, event: Event) -> bytes:
        """The event's result, or the error ``/score`` would answer with."""
        started = time.perf_counter()
        service = self._service
        named: str | None = None
        try:
            request = parse_score_request(event_json(event, "/score"), self._max_rows)
            named = request.model
            answer = await service.score(request, request_id=event.id, route=STREAM_ROUTE)
        except (ScoringError, FeatureStoreError) as exc:
            status = status_of(exc)[0]
            seconds = time.perf_counter() - started
            label = service.served_label(named)
            service.metrics.request(label, UNKNOWN, STREAM_ROUTE, status, seconds)
            raise
        seconds = time.perf_counter() - started
        version = str(answer["version"])
        service.metrics.request(answer["model"], version, STREAM_ROUTE, 200, seconds)
        return orjson.dumps(answer, option=_JSON_OPTIONS)


class PushEvents:
    """Writes an event's ``/push`` body to the feature store, as ``/push`` does; no result."""

    def __init__(self, pusher: FeaturePusher) -> None:
        self._pusher = pusher

    async def __call__(self, event: Event) -> None:
        """Nothing, once the rows are written; or the error ``/push`` would answer with."""
        body = parse_push(event_json(event, "/push"))
        # Feast's writers block (registry, store, files): off the loop.
        await asyncio.to_thread(
            self._pusher.push,
            body.push_source_name,
            body.df,
            body.to,
            allow_registry_cache=body.allow_registry_cache,
            transform_on_write=body.transform_on_write,
        )
