"""The chat handler: one per operation, thin.

It runs the semantic checks, asks a source for a :class:`Reply`, and says how
to send it (one JSON completion or a paced chunk stream). It never touches
HTTP: the server module validates and sends what it returns.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from mockserver import checks, render, tokens
from mockserver.config import Settings
from mockserver.contract import Operation
from mockserver.errors import ContractViolation
from mockserver.reply import Reply, Usage
from mockserver.sources import generator
from mockserver.stream import Pacing


@dataclass
class Call:
    """One validated request, as the handler sees it."""

    operation: Operation
    body: Any
    headers: Mapping[str, str]
    settings: Settings


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


def _model(call: Call) -> str:
    model = call.body.get("model")
    if isinstance(model, str) and model:
        return model
    example = (call.operation.request_properties.get("model") or {}).get("example")
    return str(example) if example else "mock-model"


def wants_stream(call: Call) -> bool:
    value = call.body.get("stream")
    return call.operation.stream_default if value is None else bool(value)


def generated_reply(call: Call) -> Reply:
    """The generator source: Faker text seeded by the normalized request."""
    body = call.body
    seed = generator.request_seed(call.settings.seed, body)
    text = generator.assistant_text(seed)
    finish = "stop"
    limit = checks.token_limit(body)
    if limit is not None and tokens.count(text) > limit:
        text, finish = tokens.truncate(text, limit), "length"
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    return Reply(
        id="chatcmpl-" + secrets.token_hex(12),
        created=int(time.time()),
        model=_model(call),
        content=text,
        finish_reason=finish,
        usage=Usage(tokens.prompt_tokens(messages), tokens.count(text)),
    )


async def create_chat_completion(call: Call) -> Outcome:
    op = call.operation
    streaming = wants_stream(call)
    include_usage = checks.stream_options(call.body, streaming)
    if streaming and not op.declares_stream:
        raise ContractViolation(
            f"This request streams ('stream' is {call.body.get('stream', 'unset, default true')}), but the "
            f"contract {op.spec} declares no text/event-stream response for {op.method} {op.path}, so no "
            "stream could be valid. Send \"stream\": false, or serve the spec with its errata."
        )
    reply = generated_reply(call)
    if streaming:
        pacing = Pacing(call.settings.ttft_ms, call.settings.tps)
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
