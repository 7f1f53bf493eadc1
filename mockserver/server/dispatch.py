"""Run the handler Connexion routed to, validate its answer, send it.

This is the response end of "validation sits at the two ends": a JSON body
is checked as a whole and every SSE chunk is checked before it is framed. A
violation is never sent; the client gets a ``mock_contract_violation`` error
instead (mid-stream: an ``error`` event, then the stream ends).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.types import Receive, Scope, Send

from mockserver import stream as sse
from mockserver.contract import Contract
from mockserver.errors import ContractViolation, MockError
from mockserver.handlers import Call, JsonOutcome, StreamOutcome
from mockserver.server.asgi import headers_dict, send_json
from mockserver.server.connexion_glue import routed_operation

log = logging.getLogger("mockserver.dispatch")

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class Dispatcher:
    """The ASGI app Connexion's middlewares wrap: one call per operation."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        contract: Contract = scope["mockserver.contract"]
        operation = contract.operations[routed_operation(scope)]
        scope["mockserver.operation"] = operation
        state = scope["mockserver.state"]
        call = Call(operation, scope.get("mockserver.body"), headers_dict(scope), state.settings, state.store)
        outcome = await operation.handler(call)
        if isinstance(outcome, StreamOutcome):
            state.active_streams += 1
            try:
                await send_stream(outcome, operation, receive, send)
            finally:
                state.active_streams -= 1
            return
        assert isinstance(outcome, JsonOutcome)
        validator = operation.response if outcome.status < 400 else operation.error
        if validator is not None:
            validator.check_response(outcome.body, what="response body")
        elif outcome.status < 400:
            raise ContractViolation(
                f"The contract {operation.spec} declares no application/json response for "
                f"{operation.method} {operation.path}; the mock cannot answer with JSON."
            )
        extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in outcome.headers.items()]
        await send_json(send, outcome.status, outcome.body, extra)


async def send_stream(outcome: StreamOutcome, operation: Any, receive: Receive, send: Send) -> None:
    """Send an SSE stream; a client that goes away cancels it at once."""
    validator = operation.chunk
    task = asyncio.current_task()
    disconnected = False

    async def watch() -> None:
        nonlocal disconnected
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
                assert task is not None
                task.cancel()
                return

    watcher = asyncio.create_task(watch())
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in outcome.headers.items()]
    try:
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS + extra})
        async for chunk in sse.paced(outcome.chunks, outcome.pacing):
            try:
                if validator is None:
                    raise ContractViolation(
                        f"The contract {operation.spec} gives stream chunks of {operation.method} "
                        f"{operation.path} no schema, so no chunk can be shown valid."
                    )
                validator.check_response(chunk, what="stream chunk")
            except MockError as exc:
                await send({"type": "http.response.body", "body": sse.error_event(exc.body()), "more_body": False})
                return
            await send({"type": "http.response.body", "body": sse.event(chunk), "more_body": True})
        await send({"type": "http.response.body", "body": sse.DONE, "more_body": False})
    except asyncio.CancelledError:
        if not disconnected:
            raise
        task.uncancel()  # the cancellation was ours; nothing above us should see it
        log.debug("client disconnected mid-stream; stream task freed")
    except OSError:
        log.debug("client connection lost mid-stream")
    finally:
        watcher.cancel()
