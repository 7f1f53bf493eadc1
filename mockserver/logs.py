"""Logging: one line per request, as text or JSON.

The journal entry of each request goes to the ``mockserver.requests`` logger;
the formatters here turn it into ``POST /chat/completions 200 fixture:refund 3.1 ms``
or one JSON object per line (``--json-logs``). ``--quiet`` silences it.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
from typing import Any

from mockserver.limits import MAX_LOG_TEXT


def clip(text: str, limit: int = MAX_LOG_TEXT) -> str:
    """``text`` cut to at most ``limit`` characters, in the middle, saying so.

    Why: error messages and log lines quote user data (a fixture value, a
    request field); one quoted megabyte would make a megabyte log line, and
    a YAML bomb a 69 MB one. The middle goes: a message's start says what
    failed and its end often the rule.
    """
    if len(text) <= limit:
        return text
    note = f" ...[{len(text)} characters, cut to {limit}: limits.MAX_LOG_TEXT]... "
    keep = max(limit - len(note), 0)
    head, tail = keep * 2 // 3, keep - keep * 2 // 3
    return text[:head] + note + (text[-tail:] if tail else "")


def _request_line(entry: dict[str, Any]) -> str:
    source = entry.get("source") or (entry.get("error") or {}).get("code") or "-"
    stream = entry.get("stream")
    extra = ""
    if stream:
        state = stream.get("state") or ("cut" if stream.get("cut") else "ended")
        extra = f" stream:{stream.get('events')}ev" + ("" if stream.get("done") else
                                                       " (no [DONE])" if state == "ended" else f" ({state})")
    session = "" if entry.get("session") == "default" else f" session:{entry.get('session')}"
    return (f"{entry.get('method')} {entry.get('path')} {entry.get('status')} {source}"
            f"{extra}{session} {entry.get('duration_ms', 0):.1f} ms")


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if record.name == "mockserver.requests" and isinstance(record.msg, dict):
            return _request_line(record.msg)
        line = f"{record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"time": round(record.created, 3), "level": record.levelname.lower(),
                               "logger": record.name}
        if record.name == "mockserver.requests" and isinstance(record.msg, dict):
            entry = record.msg
            out.update({k: entry.get(k) for k in ("method", "path", "status", "source", "session",
                                                  "duration_ms", "spec", "operation", "stream")})
            if entry.get("error"):
                out["error"] = entry["error"]
        else:
            out["message"] = record.getMessage()
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


# Request lines are buffered and written in batches (the app flushes them with
# the journal, every 50 ms, and at shutdown): a write per request would cost
# about a third of the throughput.
_request_buffer: logging.handlers.MemoryHandler | None = None


def flush() -> None:
    if _request_buffer is not None:
        _request_buffer.flush()


def configure(level: str, *, json_logs: bool = False, quiet: bool = False) -> None:
    global _request_buffer
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_logs else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    requests = logging.getLogger("mockserver.requests")
    requests.setLevel(logging.WARNING if quiet else logging.INFO)
    _request_buffer = logging.handlers.MemoryHandler(1024, flushLevel=logging.ERROR, target=handler)
    requests.handlers[:] = [_request_buffer]
    requests.propagate = False
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The request line above replaces uvicorn's access line. uvicorn turns its
    # own off (access_log=False) before loading the app, but a worker process
    # (--workers N) runs this after that, in the app factory: left propagating,
    # the access logger would reach the root handler and log every request
    # twice, --quiet or not (the protocol logs whenever the logger has a handler).
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
