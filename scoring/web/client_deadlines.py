"""uvicorn's HTTP protocol with a deadline on each request's headers, which uvicorn lacks.

uvicorn times out only idle keep-alive connections, and any byte received resets that: a client
that connects and sends nothing, or sends its headers a byte at a time, holds its connection
for as long as it likes. The deadline closes such a connection. It runs from the connection's
start (or the previous response's end, or the request's first byte) to the end of the headers,
and is not armed while a request is being answered; the body has its own deadline
(``scoring.web.limits``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """The httptools protocol, closing a connection whose headers take over ``header_timeout_s``."""

    def __init__(self, *args: Any, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self._header_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _too_slow(self) -> None:
        self._header_deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered; the slow one waits behind it (pipelining)
        if not self.transport.is_closing():
            log.debug(
                "closing a connection whose request headers took over %ss", self.header_timeout_s
            )
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the deadline for the first request's headers."""
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        """A request's first byte: its headers have the whole deadline from here."""
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        """The headers are in: no deadline while the request is answered."""
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """Answered: the next request's headers (after keep-alive idling) have a deadline."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Closed: nothing to time out any more."""
        self._disarm()
        super().connection_lost(exc)
