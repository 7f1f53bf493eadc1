"""WebSocket handshakes: refused, in the usual JSON error shape.

The mock serves no WebSocket endpoint, but uvicorn (with ``websockets``
installed) hands every ``Upgrade: websocket`` request to the app as a
``websocket`` scope. An app that just returns leaves uvicorn to answer a
plain-text 500 and log an ERROR, as if the mock had a bug. Instead the
handshake is answered with an HTTP error response through the ASGI
``websocket.http.response`` extension (offered by uvicorn's WebSocket
implementations), so a client sees why; a server without the extension gets
a ``websocket.close`` before the handshake, which it turns into a 403.
"""

from __future__ import annotations

import orjson
from starlette.types import Receive, Scope, Send

from mockserver.errors import MockError

RESPONSE_EXTENSION = "websocket.http.response"


def refusal(path: str) -> MockError:
    return MockError(
        f"This mock serves HTTP only: there is no WebSocket endpoint at {path!r} (or anywhere). "
        "Send the request without 'Upgrade: websocket'.",
        status=404, type="invalid_request_error", code="websocket_not_supported",
    )


async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a WebSocket handshake with a 404 JSON error (or a close, without the extension)."""
    message = await receive()
    if message["type"] != "websocket.connect":  # the client left before the handshake was answered
        return
    if RESPONSE_EXTENSION not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    error = refusal(scope.get("path", "/"))
    body = orjson.dumps(error.body())
    await send({"type": "websocket.http.response.start", "status": error.status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "websocket.http.response.body", "body": body})
