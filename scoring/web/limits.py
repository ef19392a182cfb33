"""Limits on what a client sends: how large a request body may be and how long it may take."""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scoring.web.client_deadlines import BODY_DEADLINE, BodyDeadline
from scoring.web.problems import refusal


class BodyTooLarge(HTTPException):
    """The request body is larger than the configured limit (413)."""

    def __init__(self, limit: int) -> None:
        detail = f"the request body is over the limit of {limit} bytes (SCORER_MAX_BODY_BYTES)"
        super().__init__(413, detail)


class BodyTimeout(HTTPException):
    """The request body did not arrive in time (408); the connection is closed after the answer."""

    def __init__(self, timeout_s: float) -> None:
        detail = f"the request body did not arrive within {timeout_s:g} s (SCORER_BODY_TIMEOUT_S)"
        super().__init__(408, detail, headers={"Connection": "close"})


class BodyLimits:
    """Pure ASGI middleware that enforces the body limits while the body is read, on every route.

    A ``Content-Length`` over the limit is refused before a byte of the body is read; a chunked
    body is counted as it arrives and refused as soon as it passes the limit, so a worker never
    holds more than the limit of one request. A body still arriving ``timeout_s`` after its
    headers is answered 408: under :class:`~scoring.web.client_deadlines.ClientDeadlineProtocol`
    (``scorer serve``) the server keeps that time; under any other server a timer around each
    ``receive`` does. The errors are raised from ``receive`` inside the route, whose exception
    handlers answer them as problem+json.

    A 413 leaves the connection open: uvicorn discards the rest of the body, and the client,
    still sending, gets to read the answer (closing with unread data would reset the connection
    and lose the answer).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with a ``receive`` that counts and times the body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await refusal(scope["path"], BodyTooLarge(self.max_bytes))(scope, receive, send)
            return
        deadline = scope.get("extensions", {}).get(BODY_DEADLINE)
        if isinstance(deadline, BodyDeadline):  # the server keeps the time: no timer here
            await self.app(scope, self._limited(receive, deadline, None), send)
        else:  # any other ASGI server: a timer around each receive keeps it
            timeout_at = asyncio.get_running_loop().time() + self.timeout_s
            await self.app(scope, self._limited(receive, None, timeout_at), send)

    def _limited(
        self, receive: Receive, deadline: BodyDeadline | None, timeout_at: float | None
    ) -> Receive:
        """``receive``, counting the body and answering 408 once it is late.

        Late by the server's word (``deadline``) or by a timer of our own (``timeout_at``).
        """
        max_bytes = self.max_bytes
        received = 0
        body_done = False

        async def limited_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # later calls wait for a disconnect, which may take as long as it likes
                return await receive()
            if timeout_at is None:
                message = await receive()
            else:
                try:
                    async with asyncio.timeout_at(timeout_at):
                        message = await receive()
                except TimeoutError:
                    raise BodyTimeout(self.timeout_s) from None
            if deadline is not None and deadline.expired:
                raise BodyTimeout(deadline.timeout_s)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge(max_bytes)
                body_done = not message.get("more_body", False)
            return message

        return limited_receive


def _content_length(scope: Scope) -> str | None:
    """The request's declared ``Content-Length``, if any (header names arrive lower-cased)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return bytes(value).decode("latin-1")
    return None
