"""Conversations recorded elsewhere: ``.jsonl`` files in OpenAI's chat
fine-tuning format, one ``{"messages": [...], "tools": [...]}`` per line.

A request whose messages fit a prefix of a recorded conversation that ends
on a user or tool turn is answered with the recorded next assistant turn.
"Fit" is equality of the normalized messages by default; a line may relax it:

``"match_on": [...]``
    which parts must be equal, out of :data:`MATCH_ON` (all by default):
    ``role``; ``content`` (the text of every message but tool results);
    ``tool_calls`` (an assistant turn's calls: names and arguments as JSON,
    ids ignored); ``tool_call_id`` and ``tool_results`` (a tool message's id
    and its content); ``tools`` (the request's tools against the recorded
    ones, by name and parameters schema, when the line records tools and
    the operation has tools). Leaving out ``tool_results`` matches tool
    messages by position and ``tool_call_id`` only.
``"content_regex": "..."`` on a message (instead of ``content``)
    its text must match this Python regular expression (``re.search``:
    anchor it with ``^``/``$``; ``(?i)`` ignores case), whatever
    ``match_on`` says. Not on assistant turns: those are the answers.

When no conversation fits, :func:`divergences` says, for the closest ones,
at which turn the client left the recording and what was expected there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mockserver.recording.matchers import normalize_message
from mockserver.recording.near_miss import LIMIT, likeness, quote, tools_difference

SUFFIX = ".jsonl"
MESSAGE_PARTS = ("role", "content", "tool_calls", "tool_call_id", "tool_results")
MATCH_ON = (*MESSAGE_PARTS, "tools")


class ConversationError(ValueError):
    def __init__(self, file: str, line: int, reason: str) -> None:
        super().__init__(f"{file}:{line}: {reason}")
        self.file, self.line, self.reason = file, line, reason


def _project(message: Any, parts: frozenset[str], by_regex: bool) -> Any:
    """The parts of a normalized message that are compared."""
    if not isinstance(message, dict):
        return message
    out: dict[str, Any] = {}
    role = message.get("role")
    if "role" in parts:
        out["role"] = role
    if not by_regex and ("tool_results" if role == "tool" else "content") in parts and "content" in message:
        out["content"] = message["content"]
    for part in ("tool_calls", "tool_call_id"):
        if part in parts and part in message:
            out[part] = message[part]
    return out


@dataclass(frozen=True)
class Turn:
    """One recorded message as a pattern for the request's message at the same position."""

    expected: Any  # the compared parts of the recorded message
    parts: frozenset[str]
    regex: re.Pattern[str] | None = None

    def fits(self, received: Any) -> bool:
        """``received`` is a normalized request message."""
        if _project(received, self.parts, self.regex is not None) != self.expected:
            return False
        if self.regex is None:
            return True
        text = received.get("content", "") if isinstance(received, dict) else None
        return isinstance(text, str) and self.regex.search(text) is not None

    def shown(self) -> Any:
        """What the report says was expected."""
        if self.regex is None:
            return self.expected
        return {**self.expected, "content_regex": self.regex.pattern}


@dataclass
class Conversation:
    file: str
    line: int
    messages: list[dict[str, Any]]  # as recorded (content_regex kept)
    tools: list[Any]
    match_on: frozenset[str]
    turns: list[Turn]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def request_messages(self) -> list[dict[str, Any]]:
        """The messages as a request would carry them (a regex stands in for its text):
        what the drift check validates against the contract."""
        return [{**{k: v for k, v in m.items() if k != "content_regex"}, "content": m["content_regex"]}
                if "content_regex" in m else m for m in self.messages]

    def tools_differ(self, tools: list[Any] | None) -> str | None:
        """Why the request's tools do not fit the recorded ones; None when they do, when
        this line records none, or when the operation has no tools (``tools`` is None)."""
        if "tools" not in self.match_on or not self.tools or tools is None:
            return None
        return tools_difference(self.tools, tools, schemas_only=True)

    def fitting(self, asked: list[Any]) -> int:
        """How many of the request's normalized messages fit, from the start."""
        same = 0
        while same < min(len(asked), len(self.turns)) and self.turns[same].fits(asked[same]):
            same += 1
        return same


def _compile(doc: Any, name: str, number: int) -> Conversation:
    messages = doc.get("messages") if isinstance(doc, dict) else None
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise ConversationError(name, number, "expected {\"messages\": [{\"role\": ...}, ...]}")
    if not any(m["role"] == "assistant" for m in messages):
        raise ConversationError(name, number, "the conversation has no assistant turn to replay")
    match_on = doc.get("match_on", list(MATCH_ON))
    if not isinstance(match_on, list) or not all(isinstance(p, str) and p in MATCH_ON for p in match_on):
        raise ConversationError(name, number, f"match_on must be a list of {', '.join(MATCH_ON)}; got "
                                f"{quote(match_on)}")
    parts = frozenset(match_on)
    tools = doc.get("tools") or []
    if not isinstance(tools, list):
        raise ConversationError(name, number, "tools must be a list")
    turns = []
    for index, message in enumerate(messages):
        regex = None
        if "content_regex" in message:
            pattern = message["content_regex"]
            if message["role"] == "assistant":
                raise ConversationError(name, number, f"messages[{index}]: an assistant turn is an answer; "
                                        "it needs content, not content_regex")
            if "content" in message:
                raise ConversationError(name, number, f"messages[{index}]: content or content_regex, not both")
            if not isinstance(pattern, str):
                raise ConversationError(name, number, f"messages[{index}].content_regex must be a string")
            try:
                regex = re.compile(pattern)
            except re.error as exc:
                raise ConversationError(name, number, f"messages[{index}].content_regex is not a valid "
                                        f"regular expression: {exc}") from None
        normalized = normalize_message({k: v for k, v in message.items() if k != "content_regex"})
        turns.append(Turn(_project(normalized, parts, regex is not None), parts, regex))
    return Conversation(name, number, messages, tools, parts, turns)


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
        out.append(_compile(doc, name, number))
    return out


def _answers_at(conv: Conversation, n: int) -> bool:
    """A request of ``n`` messages ends where this recording has an assistant turn next."""
    return (0 < n < len(conv.messages) and conv.messages[n - 1].get("role") in ("user", "tool")
            and conv.messages[n].get("role") == "assistant")


def next_turn(conversations: list[Conversation], messages: list[Any],
              tools: list[Any] | None = None) -> tuple[Conversation, dict[str, Any]] | None:
    """The recorded assistant turn that follows ``messages``, if they fit a prefix.

    ``tools`` is the request's tool list ([] for none), or None where the
    operation has no tools (nothing to compare)."""
    if not conversations:
        return None
    asked = [normalize_message(m) for m in messages]
    n = len(asked)
    for conv in conversations:
        if _answers_at(conv, n) and conv.tools_differ(tools) is None and conv.fitting(asked) == n:
            return conv, conv.messages[n]
    return None


def _describe(conv: Conversation, same: int, asked: list[Any], tools: str | None) -> str:
    n = len(asked)
    if same < n and same < len(conv.messages):
        text = (f"conversation {conv.where} diverged at turn {same} (messages[{same}]): expected "
                f"{quote(conv.turns[same].shown())}, received {quote(asked[same])}")
    elif same == n and _answers_at(conv, n):
        text = f"conversation {conv.where} fits the request's {n} messages"
    elif same == n and same < len(conv.messages):
        text = (f"conversation {conv.where}: the request ends at turn {same}, where the recording has a "
                f"{conv.messages[same - 1].get('role') if same else 'start'} turn not followed by an assistant turn")
    else:
        text = f"conversation {conv.where} ended after {len(conv.messages)} turns; the request has {n}"
    return text + (f"; but its tools differ ({tools})" if tools else "")


def divergences(conversations: list[Conversation], messages: list[Any], tools: list[Any] | None = None,
                limit: int = LIMIT) -> list[str]:
    """Where the ``limit`` closest conversations and the request part ways, in words:
    most messages fitting first, then those whose tools fit, then the most alike
    diverging message (ties: load order)."""
    asked = [normalize_message(m) for m in messages]
    ranked = []
    for order, conv in enumerate(conversations):
        same = conv.fitting(asked)
        differ = conv.tools_differ(tools)
        alike = likeness(conv.turns[same].shown(), asked[same]) if same < min(len(asked), len(conv.turns)) else 0.0
        ranked.append((-same, differ is not None, -alike, order, conv, same, differ))
    ranked.sort(key=lambda r: r[:4])
    return [_describe(conv, same, asked, differ) for *_, conv, same, differ in ranked[:limit]]
