"""Turn recordings into answers: a cassette's body or chunks, a conversation's turn.

A streamed recording replays its own chunks (same boundaries) on its own
clock, played at ``--replay-speed`` (1: as recorded, 2: twice as fast, 0.5:
half as fast, 0: at once), the time to the first event included. Asked the
other way round, a streamed recording is assembled into one completion, and
a JSON recording is streamed through the usual renderer. Ids and ``created``
are kept (byte-for-byte replay) or made fresh (``--replay-ids fresh``).
"""

from __future__ import annotations

import copy
import time
from typing import Any, Sequence

import orjson

from mockserver import tokens
from mockserver.errors import MockError
from mockserver.ids import fresh_hex
from mockserver.recording.cassette import Cassette, assemble
from mockserver.reply import Reply, ToolCall, Usage
from mockserver.stream import StreamPlan


def _fresh(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    new_id = "chatcmpl-" + fresh_hex(24)
    now = int(time.time())
    out = []
    for doc in documents:
        doc = copy.deepcopy(doc)
        if "id" in doc:
            doc["id"] = new_id
        if "created" in doc:
            doc["created"] = now
        out.append(doc)
    return out


def failure(cassette: Cassette) -> MockError | None:
    """The recorded upstream error as an error answer: an error status's body, or
    the error event that ended a recorded stream (asked for as JSON, a 500)."""
    if cassette.status >= 400:
        error = (cassette.response.get("body") or {}).get("error") or {}
        status = cassette.status
    else:
        event = cassette.error_event()
        if event is None:
            return None
        error = event[1].get("error") if isinstance(event[1].get("error"), dict) else {}
        status = 500
    return MockError(error.get("message", "Recorded error."), status=status, type=error.get("type"),
                     code=error.get("code"), param=error.get("param"),
                     headers={k: v for k, v in (cassette.response.get("headers") or {}).items()
                              if k.lower() != "content-type"} if cassette.status >= 400 else None)


def json_body(cassette: Cassette, ids: str) -> dict[str, Any]:
    """The recorded answer as one JSON document (a stream assembled); raises the
    recorded error where the upstream failed."""
    error = failure(cassette)
    if error is not None:
        raise error
    return _document(cassette, ids)


def _document(cassette: Cassette, ids: str) -> dict[str, Any]:
    body = cassette.response["body"] if not cassette.streamed else assemble([c for _, c in cassette.chunks()])
    return _fresh([body])[0] if ids == "fresh" else copy.deepcopy(body)


def stream(cassette: Cassette, ids: str, speed: float) -> tuple[list[dict[str, Any]], StreamPlan]:
    """The recorded chunks and the plan that sends them as recorded.

    A recorded event's ``t`` is seconds from the moment the request was sent
    upstream, so the schedule keeps the upstream's time to first event too.
    Speed is a player's: the recorded times are divided by it. A stream the
    upstream ended with an error event ends with the same event, at its time.
    """
    timed = cassette.chunks()
    chunks = [c for _, c in timed]
    chunks = _fresh(chunks) if ids == "fresh" else copy.deepcopy(chunks)
    times = [t for t, _ in timed]
    failed = cassette.error_event()
    if failed is not None:
        times.append(failed[0])
    return chunks, StreamPlan(
        schedule=schedule(times, speed),
        no_done=failed is None and not cassette.ends_with_done(),
        error_after=len(chunks) if failed is not None else None,
        error=copy.deepcopy(failed[1]) if failed is not None else None,
    )


def schedule(times: Sequence[float], speed: float) -> tuple[float, ...] | None:
    """Seconds from the request at which to send each recorded event, or None (at once)."""
    if speed <= 0 or not times:
        return None
    return tuple(max(0.0, t) / speed for t in times)


def reply_from_message(message: dict[str, Any], *, model: str, prompt_tokens: int, source: str,
                       finish_reason: str | None = None, ids: dict[str, Any] | None = None) -> Reply:
    """A Reply that says what a recorded assistant message said."""
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    calls = []
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        arguments = fn.get("arguments")
        if not isinstance(arguments, str):
            arguments = orjson.dumps(arguments if arguments is not None else {}).decode()
        calls.append(ToolCall(call.get("id") or "call_" + fresh_hex(24), fn.get("name", ""), arguments))
    completion = tokens.count(content or "") + sum(tokens.count(c.name) + tokens.count(c.arguments) for c in calls)
    ids = ids or {}
    return Reply(
        id=ids.get("id") or "chatcmpl-" + fresh_hex(24),
        created=ids.get("created") or int(time.time()),
        model=ids.get("model") or model,
        content=content if isinstance(content, str) else None,
        finish_reason=finish_reason or ("tool_calls" if calls else "stop"),
        usage=Usage(prompt_tokens, completion),
        tool_calls=calls,
        refusal=message.get("refusal"),
        audio=message.get("audio") if isinstance(message.get("audio"), dict) and "data" in message["audio"] else None,
        source=source,
    )


def reply_from_cassette(cassette: Cassette, ids: str, prompt_tokens: int) -> Reply:
    """For a streamed request answered from a JSON recording: the usual renderer streams it."""
    body = _document(cassette, ids)
    choice = (body.get("choices") or [{}])[0]
    reply = reply_from_message(choice.get("message") or {}, model=body.get("model", ""), prompt_tokens=prompt_tokens,
                               source=f"cassette:{cassette.file}", finish_reason=choice.get("finish_reason"),
                               ids={"id": body.get("id"), "created": body.get("created"), "model": body.get("model")})
    usage = body.get("usage") or {}
    reply.usage.prompt_tokens = usage.get("prompt_tokens", reply.usage.prompt_tokens)
    reply.usage.completion_tokens = usage.get("completion_tokens", reply.usage.completion_tokens)
    return reply
