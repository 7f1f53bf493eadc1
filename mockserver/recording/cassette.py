"""Cassettes: one recorded exchange per file, readable and diff-friendly.

A cassette is a JSON file (``*.cassette.json``)::

    {"cassette": 1, "recorded_at": "...", "spec": "multimedia", "match_on": [...],
     "request":  {"method": "POST", "path": "/chat/completions", "headers": {...}, "body": {...}},
     "response": {"status": 200, "headers": {...}, "body": {...}}}          # JSON answer
     "response": {"status": 200, "headers": {...},
                  "events": [{"t": 0.012, "data": {...chunk...}}, ..., {"t": 0.9, "data": "[DONE]"}]}

A stream the upstream ended with an ``event: error`` keeps that event as
``{"t": ..., "event": "error", "data": {"error": {...}}}`` (recorded only with
``--record-errors``, like an error status) and replays it as the same event.

``t`` is seconds since the request was sent upstream, so replay can keep the
recorded pace. Files are written to a temporary name and renamed: a killed
recorder leaves only complete cassettes.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from mockserver.recording.matchers import DEFAULT_MATCH_ON, normalize, request_key

SUFFIX = ".cassette.json"
VERSION = 1


class CassetteError(ValueError):
    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file, self.reason = file, reason


@dataclass
class Cassette:
    file: str
    spec: str | None
    request: dict[str, Any]
    response: dict[str, Any]
    match_on: tuple[str, ...] = DEFAULT_MATCH_ON
    recorded_at: str = ""
    key: str = field(init=False)

    def __post_init__(self) -> None:
        self.key = request_key(self.request.get("body") or {}, self.match_on)

    @cached_property
    def normalized(self) -> dict[str, Any]:
        """The recorded request as matching compares it (the near-miss report reads it)."""
        return normalize(self.request.get("body") or {}, self.match_on)

    @property
    def streamed(self) -> bool:
        return "events" in self.response

    @property
    def status(self) -> int:
        return int(self.response.get("status", 200))

    def chunks(self) -> list[tuple[float, dict[str, Any]]]:
        """(time, chunk) of each recorded data event, without [DONE] or an error event."""
        return [(float(e.get("t", 0.0)), e["data"]) for e in self.response.get("events", [])
                if isinstance(e.get("data"), dict) and e.get("event") != "error"]

    def error_event(self) -> tuple[float, dict[str, Any]] | None:
        """(time, body) of the ``event: error`` that ended the recorded stream, if one did."""
        for e in self.response.get("events", []):
            if e.get("event") == "error" and isinstance(e.get("data"), dict):
                return float(e.get("t", 0.0)), e["data"]
        return None

    @property
    def failed(self) -> bool:
        """An upstream error: an error status, or a stream that ended in an error event."""
        return self.status >= 400 or self.error_event() is not None

    def ends_with_done(self) -> bool:
        events = self.response.get("events", [])
        return bool(events) and events[-1].get("data") == "[DONE]"

    def document(self) -> dict[str, Any]:
        return {"cassette": VERSION, "recorded_at": self.recorded_at, "spec": self.spec,
                "match_on": list(self.match_on), "request": self.request, "response": self.response}


def parse(doc: Any, file: str) -> Cassette:
    if not isinstance(doc, dict) or doc.get("cassette") != VERSION:
        raise CassetteError(file, f"not a cassette (expected \"cassette\": {VERSION})")
    request, response = doc.get("request"), doc.get("response")
    if not isinstance(request, dict) or not isinstance(request.get("body"), dict):
        raise CassetteError(file, "request.body must be the recorded JSON request")
    if not isinstance(response, dict) or ("body" not in response and "events" not in response):
        raise CassetteError(file, "response needs a body (JSON) or events (a stream)")
    events = response.get("events")
    if events is not None and (not isinstance(events, list) or
                               not all(isinstance(e, dict) and "data" in e for e in events)):
        raise CassetteError(file, "response.events must be a list of {t, data}")
    match_on = tuple(doc.get("match_on") or DEFAULT_MATCH_ON)
    return Cassette(file, doc.get("spec"), request, response, match_on, str(doc.get("recorded_at", "")))


def load(path: Path) -> Cassette:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CassetteError(str(path), f"cannot read: {exc}") from None
    return parse(doc, str(path))


def is_cassette_file(path: Path) -> bool:
    return path.name.endswith(SUFFIX)


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "request"


def cassette_name(spec: str, body: dict[str, Any]) -> str:
    """Predictable: the spec, the last user words, the request key."""
    last = ""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user" and isinstance(message.get("content"), str):
            last = message["content"]
            break
    return f"{spec}/{_slug(last)}-{request_key(body)[:10]}{SUFFIX}"


def target(directory: Path, cassette: Cassette) -> Path:
    """Where :func:`save` writes ``cassette`` (the recorder checks whether it replaces a file)."""
    return directory / cassette_name(cassette.spec or "api", cassette.request["body"])


def save(directory: Path, cassette: Cassette) -> Path:
    """Write atomically: a temporary file in the same folder, then a rename."""
    target_path = target(directory, cassette)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(cassette.document(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=target_path.parent, prefix=f".{target_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target_path


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def assemble(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """A ``chat.completion`` from the chunks of a stream (for a non-streamed replay)."""
    first = chunks[0] if chunks else {}
    message: dict[str, Any] = {"role": "assistant"}
    content: list[str] = []
    refusal: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    audio: dict[str, Any] = {}
    finish = None
    usage = None
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                content.append(delta["content"])
            if isinstance(delta.get("refusal"), str):
                refusal.append(delta["refusal"])
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call.get("index", 0), {"id": None, "type": "function",
                                                               "function": {"name": "", "arguments": ""}})
                slot["id"] = call.get("id") or slot["id"]
                fn = call.get("function") or {}
                slot["function"]["name"] += fn.get("name") or ""
                slot["function"]["arguments"] += fn.get("arguments") or ""
            for key, value in (delta.get("audio") or {}).items():
                audio[key] = audio.get(key, "") + value if key in ("data", "transcript") else value
            finish = choice.get("finish_reason") or finish
    if content and "".join(content):
        message["content"] = "".join(content)
    if refusal:
        message["refusal"] = "".join(refusal)
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    if audio:
        message["audio"] = audio
    out = {"id": first.get("id"), "object": "chat.completion", "created": first.get("created"),
           "model": first.get("model"), "choices": [{"index": 0, "message": message, "finish_reason": finish}]}
    if usage is not None:
        out["usage"] = usage
    return {k: v for k, v in out.items() if v is not None}
