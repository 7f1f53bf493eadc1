"""Run the handler Connexion routed to, validate its answer, send it.

This is the response end of "validation sits at the two ends": a JSON body
is checked as a whole and every SSE chunk is checked before it is framed. A
violation is never sent; the client gets a ``mock_contract_violation`` error
instead (mid-stream: an ``error`` event, then the stream ends). A stream's
writes are rendered, checked and timed before its first byte
(:func:`mockserver.stream.timeline`, which also plans the faults a fixture
asks for: a cut, a missing ``[DONE]``, an error event, pauses); the shared
pacer (:mod:`mockserver.server.pacer`) then sends them on time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from mockserver import stream as sse
from mockserver.contract import Contract
from mockserver.errors import ContractViolation, MockError
from mockserver.handlers import Call, JsonOutcome, StreamOutcome
from mockserver.journal import Record
from mockserver.server.asgi import CLIENT_GONE, headers_dict, send_json
from mockserver.server.connexion_glue import routed_operation
from mockserver.server.pacer import StreamCut

log = logging.getLogger("mockserver.dispatch")

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


UNFINISHED = "ASGI callable returned without completing response"


def shutting_down() -> MockError:
    """The end of a stream still running when the shutdown grace period (--shutdown-timeout) is over."""
    return MockError(
        "The server is shutting down: this stream was cut before its end (the --shutdown-timeout was over).",
        status=503, type="server_error", code="server_shutting_down",
    )


class QuietEnds(logging.Filter):
    """Drops the server's log lines for ends that were expected, not bugs: a
    stream cut a fixture asked for (:class:`StreamCut`), and an unfinished
    response whose client had already reset the connection (``CLIENT_GONE``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if CLIENT_GONE.get() and str(record.msg).startswith(UNFINISHED):
            return False
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, StreamCut):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


def quiet_expected_ends() -> None:
    """Put :class:`QuietEnds` on the server's error log (once per process)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, QuietEnds) for f in logger.filters):
        logger.addFilter(QuietEnds())


def _header_list(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


class Dispatcher:
    """The ASGI app Connexion's middlewares wrap: one call per operation."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        contract: Contract = scope["mockserver.contract"]
        operation = contract.operations[routed_operation(scope)]
        scope["mockserver.operation"] = operation
        state = scope["mockserver.state"]
        record = scope.get("mockserver.record")
        params = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        params.update(scope.get("path_params") or {})
        call = Call(operation, scope.get("mockserver.body"), headers_dict(scope), state.settings,
                    state.store, state.registry, record, state, params)
        recorder = getattr(state, "recorder", None)
        if recorder is not None and operation.declares("messages"):
            # Record mode: the recorder either went upstream (sent; None) or let the handler answer.
            recorded = await recorder.answer(call, operation, send)
            if recorded is None:
                return
            outcome = recorded
        else:
            outcome = await operation.handler(call)
        if isinstance(outcome, StreamOutcome):
            state.active_streams += 1
            stats: dict[str, Any] = {"events": 0, "done": False, "cut": False, "error": False, "disconnected": False}
            try:
                await send_stream(outcome, operation, state, receive, send, stats, record)
            finally:
                state.active_streams -= 1
                # Also for a cut stream: the journal says it was cut. Not for a
                # stream refused before its status line (its error says why).
                if record is not None and record.status is not None:
                    record.stream = stats
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
        if outcome.delay_ms > 0:
            await asyncio.sleep(outcome.delay_ms / 1000.0)
        await send_json(send, outcome.status, outcome.body, _header_list(outcome.headers))


async def send_stream(outcome: StreamOutcome, operation: Any, state: Any, receive: Receive, send: Send,
                      stats: dict[str, Any], record: Record | None = None) -> dict[str, Any]:
    """Send an SSE stream as planned, counting into ``stats``; a client that goes away cancels it at once.

    With a ``record``, the stream is journaled from its status line on: the
    record holds its planned writes and ``stats`` (the journal reads what was
    sent off them) and the live feed shows it while it runs.
    """
    plan = outcome.plan
    task = asyncio.current_task()

    async def watch() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                # Once the last write is out, the server answers receive() with a
                # disconnect too (ASGI: the exchange is over). When the pacer's timer
                # sent that write, this watcher runs before the stream's task resumes:
                # without this check every paced stream read to its end was journaled
                # as disconnected, and its task cancelled on the way out. The senders
                # mark stats["closing"] just before that last write.
                if not stats.get("closing"):
                    stats["disconnected"] = True
                    assert task is not None
                    task.cancel()
                return

    watcher = asyncio.create_task(watch())
    started = False
    try:
        live = hasattr(outcome.chunks, "__aiter__")  # a live feed (the journal): it paces itself
        # Every chunk is rendered and checked before the first byte: a chunk the
        # contract forbids is never sent (an error event takes its place).
        frames = [] if live else sse.timeline(outcome.chunks, plan, lambda chunk: _violation(operation, chunk))
        if plan.delay_ms > 0:
            await asyncio.sleep(plan.delay_ms / 1000.0)
        await send({"type": "http.response.start", "status": 200,
                    "headers": SSE_HEADERS + _header_list(outcome.headers)})
        started = True
        if record is not None and not live:
            record.stream, record.frames = stats, frames
            state.feed.opened(record)
        if live:
            await _send_live(outcome.chunks, plan, operation, send, stats)
        else:
            await state.pacer.play(frames, send, stats)
    except asyncio.CancelledError:
        if not stats["disconnected"]:
            # Not the client: the server is shutting down and its grace period is
            # over. The stream ends here; that is the shutdown asked for, not an
            # error of the mock. It ends with an error event, not just a clean
            # close: without one a client would take the truncated answer for a
            # whole one. Before the status line, the same error is the response.
            stats["cut"] = True
            log.info("stream cut: the server is shutting down")
            if not started:
                raise shutting_down() from None
            stats["error"] = True
            tail = sse.error_event(shutting_down().body())
            if record is not None:
                record.tail = tail
            try:
                await send({"type": "http.response.body", "body": tail, "more_body": False})
            except (OSError, asyncio.CancelledError):
                pass
            return stats
        assert task is not None
        task.uncancel()  # the cancellation was ours; nothing above us should see it
        log.debug("client disconnected mid-stream; stream task freed")
    except OSError:
        # The client reset the connection under us. Wait (briefly) until the
        # server has noticed too, so it does not report an unfinished response.
        stats["disconnected"] = True
        log.debug("client connection lost mid-stream")
        try:
            await asyncio.wait_for(asyncio.shield(watcher), timeout=1.0)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            pass
        if task is not None and task.cancelling():
            task.uncancel()
    finally:
        watcher.cancel()
        stats.pop("closing", None)  # the senders' marker for the watcher, not part of the summary
    return stats


def _violation(operation: Any, chunk: Any) -> dict[str, Any] | None:
    """The error body to send instead of ``chunk`` if the contract forbids it, else None."""
    try:
        if operation.chunk is None:
            raise ContractViolation(
                f"The contract {operation.spec} gives stream chunks of {operation.method} "
                f"{operation.path} no schema, so no chunk can be shown valid."
            )
        operation.chunk.check_response(chunk, what="stream chunk")
    except MockError as exc:
        return exc.body()
    return None


async def _send_live(chunks: Any, plan: sse.StreamPlan, operation: Any, send: Send, stats: dict[str, Any]) -> None:
    """A live feed: each chunk checked and sent as it comes; it ends when the feed does."""
    async for chunk in chunks:
        error = _violation(operation, chunk)
        if error is not None:
            stats["error"] = stats["closing"] = True
            await send({"type": "http.response.body", "body": sse.error_event(error), "more_body": False})
            return
        await send({"type": "http.response.body", "body": sse.event(chunk), "more_body": True})
        stats["events"] += 1
    stats["closing"] = True
    await send({"type": "http.response.body", "body": b"" if plan.no_done else sse.DONE, "more_body": False})
    stats["done"] = not plan.no_done
