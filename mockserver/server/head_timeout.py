"""Close connections that do not finish their request head in time (slowloris).

uvicorn bounds an idle keep-alive connection (``timeout_keep_alive``) but
not a connection that is sending its request line and headers: one byte
every few seconds held a connection, a file descriptor and a parser open
for as long as the client liked, and 3,000 such connections stayed open.
uvicorn has no option for it, so this is its httptools protocol with one
timer added, passed to uvicorn as ``http=`` (:func:`protocol`).

The timer runs from the moment the connection is made until the head of
its first request is complete (one timer per connection), and for each
later request on the same connection from the read that brought the first
part of a head that did not arrive whole (a head that arrives in one read,
the usual case, arms none: a keep-alive request pays two attribute writes).
When it fires, a connection that sent part of a head gets a ``408`` in the
usual JSON error shape and is closed; one that sent nothing is closed
silently, as keep-alive expiry does. This sits below ASGI, like uvicorn's own answers to malformed HTTP,
so it writes its few bytes itself.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from mockserver.errors import MockError
from mockserver.limits import HEADER_TIMEOUT_SECONDS

log = logging.getLogger("mockserver.http")


class HeadTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request head is late."""

    def __init__(self, *args: Any, header_timeout: float = HEADER_TIMEOUT_SECONDS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = False  # between the first byte of a request and the end of its headers

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        busy = self.cycle is not None and not self.cycle.response_complete
        if self._in_head and not busy:  # a response now would not land inside another one
            self.transport.write(_timeout_response(self.header_timeout, self.server_state.default_headers))
        log.debug("closed a connection from %s: no complete request head within %g s",
                  self.client, self.header_timeout)
        self.transport.close()


def _timeout_response(timeout: float, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    error = MockError(
        f"The request head (request line and headers) did not arrive within {timeout:g} s "
        "(--header-timeout; limits.HEADER_TIMEOUT_SECONDS); the connection is closed.",
        status=408, type="invalid_request_error", code="request_timeout",
    )
    body = orjson.dumps(error.body())
    head = [STATUS_LINE[408]]
    for name, value in default_headers:
        head.extend([name, b": ", value, b"\r\n"])
    head.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
    return b"".join(head) + body


def protocol(header_timeout: float) -> Any:
    """What to pass to uvicorn as ``http=``: picklable, so ``--workers N`` get it too."""
    return functools.partial(HeadTimeoutProtocol, header_timeout=header_timeout)
