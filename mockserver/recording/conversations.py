"""Conversations recorded elsewhere: ``.jsonl`` files in OpenAI's chat
fine-tuning format, one ``{"messages": [...], "tools": [...]}`` per line.

A request whose messages equal a prefix of a recorded conversation that ends
on a user or tool turn is answered with the recorded next assistant turn.
When no conversation fits, :func:`divergence` says, for the closest one,
at which turn the client left the recording and what was expected there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mockserver.recording.matchers import normalize_message

SUFFIX = ".jsonl"


class ConversationError(ValueError):
    def __init__(self, file: str, line: int, reason: str) -> None:
        super().__init__(f"{file}:{line}: {reason}")
        self.file, self.line, self.reason = file, line, reason


@dataclass
class Conversation:
    file: str
    line: int
    messages: list[dict[str, Any]]
    tools: list[Any]
    normalized: list[Any]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def load(path: Path) -> list[Conversation]:
    name = str(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConversationError(name, 0, f"cannot read: {exc}") from None
    out = []
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ConversationError(name, number, f"not JSON: {exc}") from None
        messages = doc.get("messages") if isinstance(doc, dict) else None
        if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
            raise ConversationError(name, number, "expected {\"messages\": [{\"role\": ...}, ...]}")
        if not any(m["role"] == "assistant" for m in messages):
            raise ConversationError(name, number, "the conversation has no assistant turn to replay")
        out.append(Conversation(name, number, messages, doc.get("tools") or [],
                                [normalize_message(m) for m in messages]))
    return out


def next_turn(conversations: list[Conversation], messages: list[Any]) -> tuple[Conversation, dict[str, Any]] | None:
    """The recorded assistant turn that follows ``messages``, if they are a prefix."""
    if not conversations:
        return None
    asked = [normalize_message(m) for m in messages]
    n = len(asked)
    for conv in conversations:
        if n == 0 or n >= len(conv.messages):
            continue
        if conv.messages[n - 1].get("role") not in ("user", "tool"):
            continue
        if conv.messages[n].get("role") != "assistant":
            continue
        if conv.normalized[:n] == asked:
            return conv, conv.messages[n]
    return None


def divergence(conversations: list[Conversation], messages: list[Any]) -> str | None:
    """Where the closest conversation and the request part ways, in words."""
    asked = [normalize_message(m) for m in messages]
    best: tuple[int, Conversation] | None = None
    for conv in conversations:
        same = 0
        while same < min(len(asked), len(conv.normalized)) and asked[same] == conv.normalized[same]:
            same += 1
        if best is None or same > best[0]:
            best = (same, conv)
    if best is None:
        return None
    same, conv = best
    if same < len(asked) and same < len(conv.messages):
        return (f"conversation {conv.where} diverged at turn {same} (messages[{same}]): expected "
                f"{json.dumps(conv.normalized[same])[:200]}, received {json.dumps(asked[same])[:200]}")
    if same == len(asked) and same < len(conv.messages):
        return (f"conversation {conv.where}: the request ends at turn {same}, where the recording has a "
                f"{conv.messages[same - 1].get('role') if same else 'start'} turn not followed by an assistant turn")
    return f"conversation {conv.where} ended after {len(conv.messages)} turns; the request has {len(asked)}"
