"""Why a recording did not answer a request, in words.

The no-match report (``--unmatched error``, ``--record-mode none``) and the
journal's ``near_misses`` name the closest cassettes this way: for each, the
fields of its request key that differ (``model``, ``messages[2].content``,
``tools[get_weather].parameters``...), recorded value against received
value. Recorded conversations describe their own misses
(:func:`mockserver.recording.conversations.divergences`) with the helpers
here. Everything quoted is clipped: a request may carry a megabyte.
"""

from __future__ import annotations

import json
from difflib import SequenceMatcher
from typing import Any, Iterable

from mockserver.logs import clip
from mockserver.recording.cassette import Cassette
from mockserver.recording.matchers import normalize

LIMIT = 3  # closest cassettes (and conversations) named
QUOTE_LIMIT = 200  # characters of one quoted value
ENTRY_LIMIT = 600  # characters of one near miss (a cassette, a conversation, a fixture)
MESSAGE_PARTS = ("role", "content", "tool_calls", "tool_call_id")


def quote(value: Any) -> str:
    """A value as JSON, clipped; an absent one as ``none``."""
    if value is None:
        return "none"
    return clip(json.dumps(value, ensure_ascii=False, sort_keys=True), QUOTE_LIMIT)


def _tool_name(tool: Any) -> str:
    if not isinstance(tool, dict):
        return repr(tool)
    function = tool.get("function")
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return function["name"]
    return str(tool.get("type"))


def _tool_parameters(tool: Any) -> Any:
    function = tool.get("function") if isinstance(tool, dict) else None
    return function.get("parameters") if isinstance(function, dict) else None


def tools_difference(recorded: Any, received: Any, *, schemas_only: bool = False) -> str | None:
    """How two tool lists differ: their names, else a tool's parameters schema, else
    (unless ``schemas_only``) anything else (descriptions, order); None when they do not."""
    recorded, received = list(recorded or []), list(received or [])
    rec = {_tool_name(t): _tool_parameters(t) for t in recorded}
    got = {_tool_name(t): _tool_parameters(t) for t in received}
    if sorted(rec) != sorted(got) or len(rec) != len(recorded) or len(got) != len(received):
        return f"tools: recorded {quote(sorted(rec)) if rec else 'none'}, received {quote(sorted(got)) if got else 'none'}"
    for name in sorted(rec):
        if rec[name] != got[name]:
            return f"tools[{name}].parameters: recorded {quote(rec[name])}, received {quote(got[name])}"
    if not schemas_only and recorded != received:
        return "tools: same names and parameters, but other fields differ (description, strict, order)"
    return None


def message_difference(index: int, recorded: Any, received: Any) -> str:
    """Which parts of two normalized messages differ (``messages[i].content: recorded ..., received ...``)."""
    if not isinstance(recorded, dict) or not isinstance(received, dict):
        return f"messages[{index}]: recorded {quote(recorded)}, received {quote(received)}"
    parts = [p for p in MESSAGE_PARTS if recorded.get(p) != received.get(p)]
    parts += sorted(k for k in set(recorded) | set(received) if k not in MESSAGE_PARTS and recorded.get(k) != received.get(k))
    return "; ".join(f"messages[{index}].{p}: recorded {quote(recorded.get(p))}, received {quote(received.get(p))}"
                     for p in parts)


def messages_difference(recorded: list[Any], received: list[Any]) -> tuple[int, str | None]:
    """(messages in common from the start, how the lists differ or None)."""
    same = 0
    while same < min(len(recorded), len(received)) and recorded[same] == received[same]:
        same += 1
    if same == len(recorded) == len(received):
        return same, None
    if same < len(recorded) and same < len(received):
        return same, message_difference(same, recorded[same], received[same])
    return same, (f"messages: recorded {len(recorded)}, received {len(received)} "
                  f"(the first {same} are the same)")


def likeness(recorded: Any, received: Any) -> float:
    """How alike two values are, 0 to 1: a cheap tiebreaker (difflib's quick_ratio of their
    first characters as JSON, linear in their length) between equally distant recordings."""
    a = json.dumps(recorded, ensure_ascii=False, sort_keys=True)[:QUOTE_LIMIT]
    b = json.dumps(received, ensure_ascii=False, sort_keys=True)[:QUOTE_LIMIT]
    return SequenceMatcher(None, a, b, autojunk=False).quick_ratio()


def cassette_differences(cassette: Cassette, spec: str, body: dict[str, Any]) -> tuple[list[str], int, float]:
    """What keeps ``cassette`` from answering this request, how many messages it has in
    common with it, and how alike the first differing messages are."""
    out: list[str] = []
    if cassette.spec not in (None, spec):
        out.append(f"recorded for the {cassette.spec} contract, the request is for {spec}")
    recorded = cassette.normalized
    received = normalize(body, cassette.match_on)
    same, alike = 0, 0.0
    for name in cassette.match_on:
        if name == "messages":
            ours, theirs = recorded.get("messages", []), received.get("messages", [])
            same, found = messages_difference(ours, theirs)
            if found and same < min(len(ours), len(theirs)):
                alike = likeness(ours[same], theirs[same])
        elif name == "tools":
            found = tools_difference(recorded.get("tools"), received.get("tools"))
        elif recorded.get(name) != received.get(name):
            found = f"{name}: recorded {quote(recorded.get(name))}, received {quote(received.get(name))}"
        else:
            found = None
        if found:
            out.append(found)
    return out, same, alike


def cassette_misses(cassettes: Iterable[Cassette], spec: str, body: dict[str, Any], limit: int = LIMIT) -> list[str]:
    """The ``limit`` closest cassettes, each with what differs: fewest differences first,
    then most messages in common, then the most alike first differing message (ties: load order)."""
    ranked = []
    for order, cassette in enumerate(cassettes):
        differences, same, alike = cassette_differences(cassette, spec, body)
        if differences:
            ranked.append((len(differences), -same, -alike, order, cassette.file, differences))
    ranked.sort(key=lambda r: r[:4])
    return [f"cassette {file}: " + "; ".join(differences) for *_, file, differences in ranked[:limit]]
