"""The chat handler: one per operationId, thin.

It reads the request through :mod:`mockserver.chat` (semantic checks), asks
the generator for a :class:`Reply` (inside the thread's transaction when the
request names a ``thread_id``), and says how to send it: one JSON completion
or a paced chunk stream. It never touches HTTP: the server package validates
and sends what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from mockserver import checks, render
from mockserver.chat import chat_request
from mockserver.config import Settings
from mockserver.contract import Operation
from mockserver.errors import ContractViolation
from mockserver.reply import Reply
from mockserver.sources import generator
from mockserver.state.store import ThreadStore
from mockserver.stream import Pacing


@dataclass
class Call:
    """One validated request, as the handler sees it."""

    operation: Operation
    body: Any
    headers: Mapping[str, str]
    settings: Settings
    store: ThreadStore | None = None


@dataclass
class JsonOutcome:
    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class StreamOutcome:
    chunks: Iterable[dict[str, Any]]
    pacing: Pacing
    headers: dict[str, str] = field(default_factory=dict)


Outcome = JsonOutcome | StreamOutcome


def wants_stream(call: Call) -> bool:
    value = call.body.get("stream") if isinstance(call.body, dict) else None
    return call.operation.stream_default if value is None else bool(value)


def _reply(call: Call) -> Reply:
    op, body = call.operation, call.body
    thread_id = body.get("thread_id") if isinstance(body, dict) and op.declares("thread_id") else None
    if thread_id is None or call.store is None:
        return generator.reply_for(chat_request(body, op), call.settings.seed)
    # The thread's history, this turn and the reply are read and written in one
    # transaction: concurrent turns on one thread are serialized, none lost.
    with call.store.thread(str(thread_id)) as thread:
        req = chat_request(body, op, history=thread.messages())
        reply = generator.reply_for(req, call.settings.seed)
        thread.append([*body.get("messages", []), render.message(reply)])
    return reply


async def create_chat_completion(call: Call) -> Outcome:
    op = call.operation
    streaming = wants_stream(call)
    include_usage = checks.stream_options(call.body, streaming) if isinstance(call.body, dict) else False
    if streaming and not op.declares_stream:
        raise ContractViolation(
            f"This request streams ('stream' is {call.body.get('stream', 'unset, default true')}), but the "
            f"contract {op.spec} declares no text/event-stream response for {op.method} {op.path}, so no "
            "stream could be valid. Send \"stream\": false, or serve the spec with its errata."
        )
    reply = _reply(call)
    if streaming:
        ttft = call.settings.ttft_ms
        if "reason" in reply.model.lower():
            ttft *= generator.REASONING_TTFT_FACTOR
        pacing = Pacing(ttft, call.settings.tps)
        return StreamOutcome(render.chunks(reply, op.facts, include_usage=include_usage), pacing)
    return JsonOutcome(render.completion(reply, op.facts))


HANDLERS: dict[str, Callable[[Call], Any]] = {
    "createChatCompletion": create_chat_completion,
}


def resolve(operation_id: str) -> Callable[[Call], Any]:
    """Connexion's resolver: operationId -> handler. Unknown ids fail at start-up."""
    try:
        return HANDLERS[operation_id]
    except KeyError:
        raise LookupError(
            f"no handler for operationId {operation_id!r}; mockserver handles {sorted(HANDLERS)}"
        ) from None
