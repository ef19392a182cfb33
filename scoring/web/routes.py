"""HTTP endpoints: each translates HTTP to a call on the scoring service and back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field

from features.errors import OnlineStoreUnavailable
from features.readers import store_answers, store_loaded
from scoring.errors import InvalidRequest
from scoring.serving.push_request import PushBody
from scoring.serving.request import (
    MAX_LABEL_CHARS,
    ScoreRequestBody,
    parse_feedback,
    parse_score_request,
)
from scoring.serving.service import ScoringService
from scoring.serving.service_metrics import UNKNOWN
from scoring.web.deps import (
    AdminDep,
    CatalogDep,
    JobMetricsDep,
    PusherDep,
    ServiceDep,
    SettingsDep,
    TelemetryDep,
    WatcherDep,
    require_json,
)
from scoring.web.problems import problem, status_code
from scoring.web.responses import JSONBody

router = APIRouter()

SCORE_OPERATION: dict[str, Any] = {
    "summary": "Score",
    "description": "Score entity rows with online features from Feast.",
    "operationId": "score",
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": ScoreRequestBody.model_json_schema(),
            }
        },
    },
    "responses": {
        "200": {
            "description": "One prediction per entity row, in order.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "422": {"description": "The body does not fit the model's inputs (problem+json)."},
        "404": {"description": "Unknown model (problem+json)."},
        "413": {"description": "More rows than SCORER_MAX_BATCH_ROWS (problem+json)."},
        "415": {"description": "The body is not declared application/json (problem+json)."},
        "503": {"description": "The online store is unreachable (problem+json, Retry-After)."},
    },
}
"""``POST /score`` in the OpenAPI schema: the route itself is a plain Starlette one."""


async def _json_body(request: Request) -> Any:
    await require_json(request)
    try:
        # orjson refuses NaN and Infinity, which JSON does not have either.
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from exc


SCORE_ROUTE = "/score"
"""The ``route`` label of ``/score``'s requests in ``scorer_requests_total``."""


async def score(request: Request) -> JSONBody:
    """Score entity rows with online features from Feast.

    A plain Starlette route rather than a FastAPI one: FastAPI's dependency and response
    handling cost about a sixth of a single-entity request. ``SCORE_OPERATION`` documents it.
    Counted here, where the answer's status, model and version are known, rather than in a
    middleware, which would cost a layer on every request.
    """
    started = time.perf_counter()
    state = request.state
    service: ScoringService = state.service
    named: str | None = None
    try:
        parsed = parse_score_request(await _json_body(request), state.settings.max_batch_rows)
        named = parsed.model
        answer = await service.score(parsed)
        body = JSONBody(answer)
    except Exception as exc:
        model = service.served_label(named)
        seconds = time.perf_counter() - started
        service.metrics.request(model, UNKNOWN, SCORE_ROUTE, status_code(exc), seconds)
        raise
    seconds = time.perf_counter() - started
    service.metrics.request(answer["model"], str(answer["version"]), SCORE_ROUTE, 200, seconds)
    return body


router.add_route("/score", score, methods=["POST"], include_in_schema=False)


@router.get("/health/live")
async def live() -> dict[str, str]:
    """The process is up and its event loop answers."""
    return {"status": "live"}


@router.get("/health/ready", response_model=None)
async def ready(service: ServiceDep, watcher: WatcherDep) -> JSONBody | dict[str, Any]:
    """Models are loaded and the online store answers.

    A promoted version this worker cannot load is listed under ``load_failures`` but does
    not make it unready: it still serves what it served, and every worker and host sharing
    the registry fails alike, so a 503 would take them all out of the load balancer at once.
    """
    probe = service.probe_row()
    if probe is None:
        return problem(503, "Not ready", "no model is loaded", {"Retry-After": "5"})
    if not await store_answers(service.reader, *probe):
        circuit = service.circuit
        reason = circuit.describe() if circuit is not None and circuit.is_open else None
        detail = reason or "the online store does not answer"
        return problem(503, "Not ready", detail, {"Retry-After": "5"})
    try:
        loaded = await store_loaded(service.reader)
    except OnlineStoreUnavailable:
        return problem(503, "Not ready", "the online store does not answer", {"Retry-After": "5"})
    if loaded is False:
        detail = (
            "the online store lost its data (the marker materialization leaves is gone): "
            "reload it with `scorer materialize --full` or `scorer jobs run materialize`"
        )
        return problem(503, "Not ready", detail, {"Retry-After": "5"})
    models = {name: m.version for name, m in service.models.champions.items()}
    failures = [asdict(f) for f in watcher.failures.values()]
    return {"status": "ready", "models": models, "load_failures": failures}


@router.get("/models")
async def list_models(catalog: CatalogDep) -> dict[str, Any]:
    """Every registered model with its versions and aliases."""
    return {"models": catalog.summaries()}


@router.get("/models/{name}")
async def get_model(name: str, catalog: CatalogDep) -> dict[str, Any]:
    """One model: versions, aliases, and the inputs and post-processing of the served version."""
    return catalog.describe(name)


_FEEDBACK_ITEM: dict[str, Any] = {
    "type": "object",
    "required": ["request_id", "label"],
    "properties": {
        "request_id": {"type": "string", "minLength": 1, "maxLength": 128},
        "label": {
            "type": ["string", "number", "boolean"],
            "maxLength": MAX_LABEL_CHARS,
            "description": "One of the model's two classes: its value, true/false or 1/0.",
        },
        "model": {"type": "string", "description": "The labelled model; default if left out."},
    },
    "additionalProperties": False,
}
FEEDBACK_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [_FEEDBACK_ITEM, {"type": "array", "items": _FEEDBACK_ITEM, "minItems": 1}]
            }
        }
    },
}
"""``POST /feedback``'s body in the OpenAPI schema: the route parses the body itself."""


@router.post("/feedback", status_code=202, openapi_extra={"requestBody": FEEDBACK_BODY})
async def feedback(request: Request, service: ServiceDep, settings: SettingsDep) -> JSONBody:
    """Record realized labels of earlier requests: one ``{request_id, label, model?}`` or a list.

    A label must name one of the model's classes (422 otherwise); it is kept in one form.
    """
    items = parse_feedback(await _json_body(request), settings.max_batch_rows)
    return JSONBody({"accepted": service.feedback(items)}, status_code=202)


class Promotion(BaseModel):
    """Body of ``POST /models/{name}/promote``."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(description="Version to point the alias at; null clears it.")
    alias: Literal["champion", "canary", "shadow"] = "champion"
    weight: float = Field(default=0.0, ge=0.0, le=1.0, description="Canary traffic share.")
    why: str = Field(default="", max_length=1000, description="Reason, kept in the history.")


@router.post("/models/{name}/promote", dependencies=[Depends(require_json)])
async def promote(
    name: str, body: Promotion, _admin: AdminDep, catalog: CatalogDep, watcher: WatcherDep
) -> dict[str, Any]:
    """Point an alias at a version (admin). Every worker follows within its reload interval.

    422 when the version cannot be loaded (nothing changes). The check loads the version
    and the change waits for the model's lock, so it runs off the event loop.
    """
    aliases = await asyncio.to_thread(
        catalog.promote, name, body.alias, body.version, body.weight, body.why
    )
    await watcher.reload_if_changed()
    return {"name": name, "aliases": asdict(aliases)}


@router.post("/push", dependencies=[Depends(require_json)])
async def push(body: PushBody, _admin: AdminDep, pusher: PusherDep) -> dict[str, Any]:
    """Write rows to a Feast push source (admin), at Feast feature server's path, with its body.

    422 names the column a row does not fit; the next ``/score`` sees the rows written
    online. Feast's writers block (registry, store, files), so the push runs off the loop.
    """
    pushed = await asyncio.to_thread(
        pusher.push,
        body.push_source_name,
        body.df,
        body.to,
        allow_registry_cache=body.allow_registry_cache,
        transform_on_write=body.transform_on_write,
    )
    return {**asdict(pushed), "feature_views": list(pushed.feature_views)}


@router.get("/metrics", include_in_schema=False)
async def metrics(
    service: ServiceDep, telemetry: TelemetryDep, job_metrics: JobMetricsDep
) -> Response:
    """Prometheus text format: every worker's counts, what this worker serves, drift and jobs."""
    with contextlib.suppress(OnlineStoreUnavailable):  # the gauge is left out then
        await store_loaded(service.reader)  # fresh for the loaded gauge (cached for a second)
    await asyncio.to_thread(job_metrics.refresh)  # the jobs' files, read when they changed
    return Response(telemetry.render(job_metrics), media_type=CONTENT_TYPE_LATEST)
