"""Reply -> the wire shapes of the Chat Completions API.

``completion`` gives one ``chat.completion`` object; ``chunks`` gives the
``chat.completion.chunk`` sequence OpenAI streams: a first delta with the
role, token-sized content deltas, tool-call deltas (first with id, type and
name, then argument fragments), exactly one chunk with ``finish_reason``,
and, when asked for, a usage chunk. Renderers decide no content, and they
never put ``null`` where the served schema does not allow it: those choices
come from :attr:`mockserver.contract.Operation.facts`.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterator

from mockserver import tokens
from mockserver.reply import Reply, ToolCall


def usage(reply: Reply, facts: dict[str, Any]) -> dict[str, Any]:
    u = reply.usage
    out: dict[str, Any] = {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
    }
    if facts.get("usage_details"):
        if u.prompt_details:
            out["prompt_tokens_details"] = dict(u.prompt_details)
        if u.completion_details:
            out["completion_tokens_details"] = dict(u.completion_details)
    return out


def _tool_call(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def message(reply: Reply) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant"}
    if reply.content is not None:
        msg["content"] = reply.content
    if reply.refusal is not None:
        msg["refusal"] = reply.refusal
    if reply.tool_calls:
        msg["tool_calls"] = [_tool_call(c) for c in reply.tool_calls]
    if reply.audio is not None:
        msg["audio"] = dict(reply.audio)
    return msg


def completion(reply: Reply, facts: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": reply.id,
        "object": "chat.completion",
        "created": reply.created,
        "model": reply.model,
        "choices": [{"index": 0, "message": message(reply), "finish_reason": reply.finish_reason}],
        "usage": usage(reply, facts),
    }


AUDIO_DATA_PIECE = 16 * 1024  # base64 characters per delta; a multiple of 4, so each piece decodes alone


def audio_deltas(audio: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Audio as the API streams it: the id, transcript pieces, data pieces, then expiry."""
    yield {"id": audio["id"]}
    for piece in tokens.pieces(audio["transcript"]):
        yield {"transcript": piece}
    data = audio["data"]
    for start in range(0, len(data), AUDIO_DATA_PIECE):
        yield {"data": data[start:start + AUDIO_DATA_PIECE]}
    yield {"expires_at": audio["expires_at"]}


def _frame(reply: Reply) -> dict[str, Any]:
    return {"id": reply.id, "object": "chat.completion.chunk", "created": reply.created, "model": reply.model}


Splitter = Callable[[str], list[str]]
_WORD = re.compile(r"\s*\S+|\s+")


def splitter(chunking: Any = "token") -> Splitter:
    """How content is cut into deltas: per token (default), word, character, or N characters."""
    if isinstance(chunking, dict):
        size = int(chunking["chars"])
        return lambda text: [text[i:i + size] for i in range(0, len(text), size)]
    if chunking == "word":
        return _WORD.findall
    if chunking == "char":
        return list
    return tokens.pieces


def chunks(reply: Reply, facts: dict[str, Any], *, include_usage: bool = False,
           split: Splitter = tokens.pieces) -> Iterator[dict[str, Any]]:
    """The chunk sequence for ``reply`` (without the ``[DONE]`` sentinel)."""
    frame = _frame(reply)
    null_ok = facts.get("chunk_finish_reason_nullable", False)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "delta": delta}
        if finish is not None:
            choice["finish_reason"] = finish
        elif null_ok:
            choice["finish_reason"] = None
        return {**frame, "choices": [choice]}

    yield chunk({"role": "assistant", "content": ""} if reply.audio is None else {"role": "assistant"})
    if reply.refusal is not None:
        for piece in split(reply.refusal):
            yield chunk({"refusal": piece})
    if reply.content:
        for piece in split(reply.content):
            yield chunk({"content": piece})
    if reply.audio is not None:
        yield from (chunk({"audio": part}) for part in audio_deltas(reply.audio))
    for index, call in enumerate(reply.tool_calls):
        yield chunk(
            {"tool_calls": [{"index": index, "id": call.id, "type": "function",
                             "function": {"name": call.name, "arguments": ""}}]}
        )
        for piece in tokens.pieces(call.arguments):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, finish=reply.finish_reason)
    if include_usage:
        yield {**frame, "choices": [], "usage": usage(reply, facts)}
