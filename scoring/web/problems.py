"""problem+json answers (RFC 9457) for the service's errors (see :mod:`scoring.serving.problems`)
and for the web framework's own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from features.errors import FeatureStoreError
from scoring.errors import ScoringError, clipped
from scoring.serving.problems import LISTED_ERRORS, problem_body, problem_of, status_of
from scoring.web.responses import JSONBody

PROBLEM_JSON = "application/problem+json"

CLIENT_GONE = 499
"""The status of a request whose client hung up before its body arrived (as nginx logs it)."""


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONBody:
    """A problem+json response."""
    body = problem_body(status, title, detail, **extra)
    return JSONBody(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def status_code(exc: Exception) -> int:
    """The status the handlers below answer ``exc`` with (500: none of them handles it)."""
    if isinstance(exc, ScoringError | FeatureStoreError):
        return status_of(exc)[0]
    if isinstance(exc, HTTPException):
        return exc.status_code
    if isinstance(exc, ClientDisconnect):
        return CLIENT_GONE
    return 500


def http_problem(exc: HTTPException) -> JSONBody:
    """A problem+json response for Starlette's and FastAPI's own HTTP errors, and ours."""
    headers = dict(exc.headers) if exc.headers else None
    return problem(exc.status_code, _reason(exc.status_code), str(exc.detail), headers)


OIP_PREFIX = "/v2"
"""The Open Inference Protocol's paths, whose errors are ``{"error": "..."}``, not problem+json."""


def is_oip_path(path: str) -> bool:
    """Whether ``path`` is one of the Open Inference Protocol's."""
    return path == OIP_PREFIX or path.startswith(OIP_PREFIX + "/")


def oip_status(status: int) -> int:
    """The status OIP answers for the rest of the API's: 400 for a request that does not fit."""
    return 400 if status == 422 else status


def as_oip_error(response: JSONBody) -> JSONBody:
    """A problem+json answer in OIP's form: ``{"error": detail}``, the same headers, and the
    status of :func:`oip_status`."""
    body = orjson.loads(response.body)
    status = oip_status(response.status_code)
    headers = {k: v for k, v in response.headers.items() if k in ("retry-after", "connection")}
    return JSONBody({"error": body.get("detail", body.get("title"))}, status, headers)


def refusal(path: str, exc: HTTPException) -> JSONBody:
    """:func:`http_problem`, in OIP's form on OIP's paths."""
    response = http_problem(exc)
    return as_oip_error(response) if is_oip_path(path) else response


def install_problem_handlers(app: FastAPI, retry_after_s: int) -> None:
    """Answer every error the service raises, and FastAPI's own, as problem+json.

    On the Open Inference Protocol's paths the same answers come in its form (:func:`as_oip_error`).
    """

    async def on_domain_error(_request: Request, exc: Exception) -> JSONBody:
        assert isinstance(exc, ScoringError | FeatureStoreError)
        body = problem_of(exc)
        status = body["status"]
        headers = {"Retry-After": str(retry_after_s)} if status == 503 else None
        if status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return JSONBody(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)

    async def on_http_error(_request: Request, exc: Exception) -> JSONBody:
        assert isinstance(exc, HTTPException)
        return http_problem(exc)

    async def on_validation_error(_request: Request, exc: Exception) -> JSONBody:
        assert isinstance(exc, RequestValidationError)
        # Field names come from the client (an unknown key is named in ``loc``): clip them.
        errors = [
            {"field": clipped(".".join(str(p) for p in e["loc"])), "message": clipped(e["msg"])}
            for e in exc.errors()[:LISTED_ERRORS]
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem(422, "Invalid request", detail, errors=errors)

    async def on_client_gone(_request: Request, _exc: Exception) -> Response:
        # The client hung up before its body arrived: nobody reads this answer, and it is no
        # server error (nginx logs the same case as 499).
        return Response(status_code=CLIENT_GONE)

    def oip_aware(handler: Handler) -> Handler:
        async def handle(request: Request, exc: Exception) -> Response:
            response = await handler(request, exc)
            if isinstance(response, JSONBody) and is_oip_path(request.url.path):
                return as_oip_error(response)
            return response

        return handle

    app.add_exception_handler(ClientDisconnect, on_client_gone)
    app.add_exception_handler(ScoringError, oip_aware(on_domain_error))
    app.add_exception_handler(FeatureStoreError, oip_aware(on_domain_error))
    app.add_exception_handler(HTTPException, oip_aware(on_http_error))
    app.add_exception_handler(RequestValidationError, oip_aware(on_validation_error))


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
