"""The Open Inference Protocol v2 (REST): KServe's and Triton's paths onto the scoring service.

The routes only translate: :mod:`scoring.serving.inference_protocol` turns tensors into the
rows ``/score`` takes and answers into tensors, and the scoring is ``/score``'s own (routing,
micro-batcher, log). Errors are OIP's ``{"error": "..."}``, converted from the one error table
by :func:`scoring.web.problems.as_oip_error`.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException

from scoring.errors import InvalidRequest, ModelNotFound, quoted
from scoring.model.loaded import ScoringModel
from scoring.serving.inference_protocol import (
    InferRequest,
    infer_response,
    model_metadata,
    parse_infer_request,
)
from scoring.serving.request import ScoreRequest
from scoring.serving.service import ScoringService
from scoring.serving.service_metrics import UNKNOWN
from scoring.web.deps import ServiceDep, WatcherDep, is_json
from scoring.web.problems import as_oip_error, oip_status, status_code
from scoring.web.responses import JSONBody
from scoring.web.routes import live, ready

router = APIRouter(prefix="/v2", tags=["Open Inference Protocol"])

INFER_PATHS = ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer")
INFER_ROUTE = "/v2/infer"
"""The ``route`` label of the inference requests in ``scorer_requests_total``."""

_ERROR: dict[str, Any] = {"application/json": {"schema": {"type": "object", "required": ["error"]}}}
_OBJECT = {"application/json": {"schema": {"type": "object"}}}


def _version(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise InvalidRequest(f"version {quoted(text)} must be a version number such as 1")
    return int(text)


def _served(service: ScoringService, name: str, version: str | None) -> ScoringModel:
    """The version of ``name`` a request names (the champion when it names none)."""
    if version is not None:
        return service.route_version(name, _version(version))[0]
    served = service.models.served.get(name)
    if served is None:
        known = ", ".join(sorted(service.models.served)) or "none"
        raise ModelNotFound(f"model {quoted(name)} is not served (loaded models: {known})")
    return served.champion


async def _infer_body(request: Request) -> Any:
    # tritonclient sends no Content-Type: none is taken as JSON, but a browser's cross-site
    # "simple" types (text/plain, forms) are refused, as on /score.
    content_type = request.headers.get("content-type")
    if content_type is not None and not is_json(content_type):
        raise HTTPException(415, f"send the body as application/json, not {quoted(content_type)}")
    try:
        # orjson refuses NaN and Infinity, which JSON does not have either.
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from exc


async def infer(request: Request) -> JSONBody:
    """Score input tensors through ``/score``'s path; a plain Starlette route, as ``/score`` is.

    Counted here rather than in a middleware, which would cost a layer on every request.
    """
    started = time.perf_counter()
    state = request.state
    service: ScoringService = state.service
    params = request.path_params
    name: str = params["name"]
    try:
        # The inputs checked are the named version's, or the champion's (as the metadata's).
        model = _served(service, name, params.get("version"))
        version = model.version if "version" in params else None
        parsed: InferRequest = parse_infer_request(
            await _infer_body(request),
            model.schema,
            state.settings.max_batch_rows,
            binary_header="inference-header-content-length" in request.headers,
        )
        answer = await service.score(
            ScoreRequest(model=name, entities=parsed.entities, include_features=False),
            version=version,
        )
        body = JSONBody(infer_response(answer, parsed))
    except Exception as exc:
        seconds = time.perf_counter() - started
        service.metrics.request(
            service.served_label(name), UNKNOWN, INFER_ROUTE, oip_status(status_code(exc)), seconds
        )
        raise
    seconds = time.perf_counter() - started
    service.metrics.request(answer["model"], str(answer["version"]), INFER_ROUTE, 200, seconds)
    return body


# First in the router, since routes are matched in order: inference is the hot path.
# ``add_route`` does not prefix a plain route with the router's prefix: the paths are whole.
for _path in INFER_PATHS:
    router.add_route(_path, infer, methods=["POST"], include_in_schema=False)


@router.get("", summary="Server metadata")
async def server_metadata(request: Request) -> dict[str, Any]:
    """The server's name, version and the protocol extensions it supports (none)."""
    return {"name": request.app.title, "version": request.app.version, "extensions": []}


@router.get("/health/live", summary="Server live")
async def server_live() -> dict[str, bool]:
    """Live as ``/health/live`` is."""
    await live()
    return {"live": True}


@router.get(
    "/health/ready",
    summary="Server ready",
    response_model=None,
    responses={503: {"description": "Not ready: the reason", "content": _ERROR}},
)
async def server_ready(service: ServiceDep, watcher: WatcherDep) -> JSONBody:
    """Ready as ``/health/ready`` is: models loaded and the online store answers."""
    answer = await ready(service, watcher)
    if isinstance(answer, JSONBody):  # the not-ready problem+json
        return as_oip_error(answer)
    return JSONBody({"ready": True})


def _metadata(service: ScoringService, name: str, version: str | None) -> dict[str, Any]:
    model = _served(service, name, version)
    served = service.models.served[name]
    versions = [served.champion.version]
    if served.canary is not None:
        versions.append(served.canary.version)
    return model_metadata(model, versions)


_NOT_SERVED: dict[int | str, dict[str, Any]] = {
    404: {"description": "The model or version is not served", "content": _ERROR}
}
_BAD: dict[int | str, dict[str, Any]] = {
    400: {"description": "The version is not a number", "content": _ERROR}
}


@router.get("/models/{name}", summary="Model metadata", responses=_NOT_SERVED)
async def get_model_metadata(name: str, service: ServiceDep) -> dict[str, Any]:
    """The served champion's inputs (join keys and request fields) and outputs."""
    return _metadata(service, name, None)


@router.get(
    "/models/{name}/versions/{version}",
    summary="Model version metadata",
    responses={**_NOT_SERVED, **_BAD},
)
async def get_version_metadata(name: str, version: str, service: ServiceDep) -> dict[str, Any]:
    """One served version's inputs and outputs: the champion or the canary."""
    return _metadata(service, name, version)


@router.get("/models/{name}/ready", summary="Model ready", responses=_NOT_SERVED)
async def model_ready(name: str, service: ServiceDep) -> dict[str, Any]:
    """200 when the model is served by this worker, 404 when it is not."""
    model = _served(service, name, None)
    return {"name": model.name, "ready": True}


@router.get(
    "/models/{name}/versions/{version}/ready",
    summary="Model version ready",
    responses={**_NOT_SERVED, **_BAD},
)
async def version_ready(name: str, version: str, service: ServiceDep) -> dict[str, Any]:
    """200 when the version answers requests (champion or canary), 404 when it does not."""
    model = _served(service, name, version)
    return {"name": model.name, "version": str(model.version), "ready": True}


_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string", "description": "A join key or request field of the model."},
        "shape": {"type": "array", "items": {"type": "integer"}, "description": "[N] or [N, 1]"},
        "datatype": {"type": "string", "examples": ["INT64", "FP64", "BYTES", "BOOL"]},
        "data": {"type": "array", "description": "N values, row by row."},
        "parameters": {"type": "object"},
    },
}


def infer_operation(versioned: bool) -> dict[str, Any]:
    """``POST .../infer`` in the OpenAPI schema: the route itself is a plain Starlette one."""
    parameters = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
    if versioned:
        parameters.append(
            {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}
        )
    return {
        "tags": ["Open Inference Protocol"],
        "summary": "Model version infer" if versioned else "Model infer",
        "description": "Score one input tensor per join key or request field, as /score does.",
        "operationId": "oip_infer_version" if versioned else "oip_infer",
        "parameters": parameters,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["inputs"],
                        "properties": {
                            "id": {"type": "string"},
                            "parameters": {"type": "object"},
                            "inputs": {"type": "array", "items": _TENSOR, "minItems": 1},
                            "outputs": {"type": "array", "items": {"type": "object"}},
                        },
                    }
                }
            },
        },
        "responses": {
            "200": {"description": "Output tensors score and label.", "content": _OBJECT},
            "400": {"description": "The request does not fit the model.", "content": _ERROR},
            "404": {"description": "The model or version is not served.", "content": _ERROR},
            "413": {"description": "Too many rows or too large a body.", "content": _ERROR},
            "415": {"description": "The body is not declared JSON.", "content": _ERROR},
            "503": {"description": "The online store is unreachable.", "content": _ERROR},
        },
    }


INFER_OPERATIONS: dict[str, Any] = {
    INFER_PATHS[0]: {"post": infer_operation(False)},
    INFER_PATHS[1]: {"post": infer_operation(True)},
}
"""The inference routes' entries in the OpenAPI schema's ``paths``."""
