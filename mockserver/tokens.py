"""The mock's token counting rule, documented in the README.

A *token* is a run of word characters or a single punctuation character
(regex ``\\w+|[^\\w\\s]``). Whitespace is not a token: it travels with the
token it precedes, so the token-sized stream deltas concatenate back to the
exact text. Every message costs 3 tokens of framing on top of its text
(content, name, tool call names and arguments), and the prompt 3 more for
priming the reply, which is close to how OpenAI counts chat prompts.
Images cost a fixed 85 tokens each (OpenAI's low-detail price).
"""

from __future__ import annotations

import re
from typing import Any, Iterable

_TOKEN = re.compile(r"\w+|[^\w\s]")
# A piece: leading whitespace + one token, or trailing whitespace alone.
_PIECE = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")

PER_MESSAGE = 3
PRIMING = 3
IMAGE_TOKENS = 85


def count(text: str) -> int:
    return len(_TOKEN.findall(text))


def pieces(text: str) -> list[str]:
    """Split ``text`` into token-sized pieces that concatenate to ``text``."""
    return _PIECE.findall(text)


def truncate(text: str, limit: int) -> str:
    """The first ``limit`` tokens of ``text`` (with their leading spaces)."""
    return "".join(pieces(text)[:limit]).rstrip()


def _content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return count(content)
    total = 0
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                total += count(part)
            elif isinstance(part, dict):
                kind = part.get("type")
                if kind == "text" and isinstance(part.get("text"), str):
                    total += count(part["text"])
                elif kind == "image_url":
                    total += IMAGE_TOKENS
    return total


def message_tokens(message: Any) -> int:
    if not isinstance(message, dict):
        return PER_MESSAGE
    total = PER_MESSAGE + _content_tokens(message.get("content"))
    if isinstance(message.get("name"), str):
        total += count(message["name"])
    calls = message.get("tool_calls")
    if isinstance(calls, dict):
        calls = [calls]
    for call in calls or []:
        fn = (call or {}).get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict):
            for key in ("name", "arguments"):
                if isinstance(fn.get(key), str):
                    total += count(fn[key])
    return total


def prompt_tokens(messages: Iterable[Any]) -> int:
    return PRIMING + sum(message_tokens(m) for m in messages)
