"""Small ASGI helpers shared by the HTTP modules."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Iterable

import orjson
from starlette.types import Send

JSON_TYPE = b"application/json"

# Set in a request's task when a send failed because the client had already
# reset the connection. uvicorn logs "returned without completing response"
# for such a request when it has not noticed the loss itself (with pipelined
# requests it marks only the newest one disconnected); the log filter
# (``dispatch.QuietEnds``) reads this, in the same task, to drop that line.
CLIENT_GONE: ContextVar[bool] = ContextVar("mockserver_client_gone", default=False)


def header(scope: dict[str, Any], name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


def headers_dict(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = JSON_TYPE,
    extra: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, data: Any, extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
    await send_bytes(send, status, orjson.dumps(data), JSON_TYPE, extra)


async def read_body(receive: Any, limit: int) -> tuple[bytes, list[dict[str, Any]]]:
    """Read the whole request body, refusing more than ``limit`` bytes."""
    from mockserver.errors import PayloadTooLarge

    chunks: list[bytes] = []
    messages: list[dict[str, Any]] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        messages.append(message)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"Request body is larger than the limit of {limit} bytes (set it with --max-body)."
            )
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks), messages
