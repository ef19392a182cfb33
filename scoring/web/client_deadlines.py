"""uvicorn's HTTP protocol with limits on what a client sends: a request's headers and body.

uvicorn times out only idle keep-alive connections, and any byte received resets that: a client
that connects and sends nothing, or sends its headers a byte at a time, holds its connection
for as long as it likes. The header deadline closes such a connection. It runs from the
connection's start (or the previous response's end, or the request's first byte) to the end of
the headers. The body deadline runs from the end of the headers to the end of the body; when it
passes, the request's ``receive`` wakes and :class:`scoring.web.limits.BodyLimits` answers 408.
Neither runs while a request is answered.

Every request moves its deadline, so the deadline is a time kept per connection, checked by
one timer that is re-armed only when it fires early: a request costs no timer of its own
(scheduling and cancelling timers was a measurable share of a small request's time).

The request line and headers are limited in size too. httptools hands uvicorn a header or a
URL only once it is whole, and both pile up in memory meanwhile: a client could send
gigabytes of one header within the deadline. The bytes received while a request's headers
are still incomplete are counted; past the limit the request is answered 431 (414 while
still in the request line) and the connection closed. Headers that arrive whole in one read,
as nearly all do, cost nothing to count.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any, Literal

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Nothing heavy at import: a worker unpickles this protocol before it answers uvicorn's health
# pings, and a worker that takes over five seconds to (importing Feast, say) is killed.

log = logging.getLogger(__name__)

BODY_DEADLINE = "scorer.body_deadline"
"""The scope extension holding a request's :class:`BodyDeadline`, where the protocol set one."""


class BodyDeadline:
    """Whether a request's body missed its deadline; set by the protocol, read by the app."""

    __slots__ = ("expired", "timeout_s")

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.expired = False


Phase = Literal["headers", "body"] | None


class ClientDeadlineProtocol(HttpToolsProtocol):
    """The httptools protocol, with deadlines on a request's headers and on its body."""

    def __init__(
        self,
        *args: Any,
        header_timeout_s: float,
        body_timeout_s: float,
        max_header_bytes: int = 65_536,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self.max_header_bytes = max_header_bytes
        self._header_bytes = 0
        self._phase: Phase = None
        self._due = math.inf
        self._timer: asyncio.TimerHandle | None = None
        self._body: BodyDeadline | None = None

    def _expect(self, phase: Phase, timeout_s: float) -> None:
        """From now, ``phase`` must be over within ``timeout_s``."""
        self._phase = phase
        self._header_bytes = 0
        self._due = self.loop.time() + timeout_s
        if self._timer is None:
            self._timer = self.loop.call_at(self._due, self._check)

    def _check(self) -> None:
        self._timer = None
        if self._phase is None or self.transport.is_closing():
            return  # nothing expected now: the next phase arms a timer again
        if self.loop.time() < self._due:  # the deadline moved since this timer was set
            self._timer = self.loop.call_at(self._due, self._check)
            return
        cycle = self.cycle
        if self._phase == "body":
            self._phase = None
            if cycle is not None and self._body is not None and not cycle.response_complete:
                self._body.expired = True
                cycle.message_event.set()  # a receive() waiting for more body returns now
            return
        if cycle is not None and not cycle.response_complete:
            return  # a request is being answered; the slow one waits behind it (pipelining)
        log.debug("closing a connection whose request headers took over %ss", self.header_timeout_s)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        """Parse ``data``; count it if the headers it brought are still incomplete after it."""
        super().data_received(data)
        if self._phase == "headers" and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._refuse_headers()

    def _refuse_headers(self) -> None:
        """Answer 431 (or 414 for a request line alone) as problem+json and close."""
        from scoring.serving.problems import problem_body  # imported by the app long since

        self._phase = None
        if getattr(self, "headers", None):  # uvicorn's list of the headers parsed so far
            status, title, what = 431, "Request Header Fields Too Large", "request headers"
        else:
            status, title, what = 414, "URI Too Long", "request line"
        limit = self.max_header_bytes
        detail = f"the {what} passed the limit of {limit} bytes (SCORER_MAX_HEADER_BYTES)"
        body = orjson.dumps(problem_body(status, title, detail))
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/problem+json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, title.encode(), len(body), body)
        )
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the deadline for the first request's headers."""
        super().connection_made(transport)
        self._expect("headers", self.header_timeout_s)

    def on_message_begin(self) -> None:
        """A request's first byte: its headers have the whole deadline from here."""
        super().on_message_begin()
        self._expect("headers", self.header_timeout_s)

    def on_headers_complete(self) -> None:
        """The headers are in: the body's deadline starts; the app can see it in the scope."""
        self._body = BodyDeadline(self.body_timeout_s)
        self.scope["extensions"] = {BODY_DEADLINE: self._body}  # type: ignore[dict-item]
        super().on_headers_complete()
        self._expect("body", self.body_timeout_s)

    def on_message_complete(self) -> None:
        """The body is in: no deadline while the request is answered."""
        super().on_message_complete()
        self._phase = None

    def on_response_complete(self) -> None:
        """Answered: the next request's headers (after keep-alive idling) have a deadline."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._expect("headers", self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        """Closed: nothing to time out any more."""
        self._phase = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)
