"""Which requests a recording answers: compare normalized requests.

By default a request matches a cassette when these fields are equal:
model, messages, tools, tool_choice, response_format, modalities. Volatile
fields (``stream``, ``stream_options``, ``user``, sampling parameters...) are
ignored, so a recording made streamed answers the same request non-streamed.
A cassette may name its own ``match_on`` list, as vcrpy's matchers do.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable

import orjson

DEFAULT_MATCH_ON = ("model", "messages", "tools", "tool_choice", "response_format", "modalities")


def normalize_message(message: Any) -> Any:
    """A message as compared: role, text, tool calls (name + arguments), tool_call_id.

    Text parts are joined so ``"hi"`` and ``[{"type": "text", "text": "hi"}]``
    compare equal; ``content: null`` equals no content."""
    if not isinstance(message, dict):
        return message
    content = message.get("content")
    if isinstance(content, list):
        texts = [p.get("text") if isinstance(p, dict) and p.get("type") == "text" else p for p in content]
        if all(isinstance(t, str) for t in texts):
            content = "".join(texts)
    out: dict[str, Any] = {"role": message.get("role")}
    if content not in (None, ""):
        out["content"] = content
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls:
        out["tool_calls"] = [
            {"name": (c.get("function") or {}).get("name"), "arguments": _json_value((c.get("function") or {}).get("arguments"))}
            for c in calls if isinstance(c, dict)
        ]
    if message.get("tool_call_id") is not None:
        out["tool_call_id"] = message["tool_call_id"]
    return out


def _json_value(text: Any) -> Any:
    """Arguments compare as JSON values, not as strings with their spacing."""
    if isinstance(text, str):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
    return text


def normalize(body: dict[str, Any], match_on: Iterable[str] = DEFAULT_MATCH_ON) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in match_on:
        if name == "messages":
            out["messages"] = [normalize_message(m) for m in body.get("messages") or []]
        elif body.get(name) is not None:
            out[name] = body[name]
    return out


def request_key(body: dict[str, Any], match_on: Iterable[str] = DEFAULT_MATCH_ON) -> str:
    blob = orjson.dumps(normalize(body, match_on), option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(blob, digest_size=12).hexdigest()
