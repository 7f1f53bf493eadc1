"""The journal as an HTTP Archive (HAR 1.2), for browser dev tools and HAR viewers.

Why: a frontend developer already has tools that read HAR (Chrome's and
Firefox's network panels import it, as do Charles, Fiddler and many
viewers); exporting the mock's side of the exchanges in that format lets a
bug report carry exactly what the mock received and answered.

Each journal entry becomes one HAR entry (W3C HAR 1.2 draft,
http://www.softwareishard.com/blog/har-12-spec/). What the journal does not
know is given as HAR says to: ``-1`` for unknown sizes and timings. What
it knows beyond HAR rides in ``_``-prefixed fields, which HAR reserves for
that (``_source``, ``_session``, ``_error``...). Secrets were redacted when
journaled; they stay ``[redacted]``. A response text cut by the journal's
budget is marked in ``content.comment``, and ``content.size`` is its full size.
"""

from __future__ import annotations

import http
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl

import orjson

from mockserver.limits import MAX_JOURNAL_BODY_BYTES

VERSION = "1.2"
SSE = "text/event-stream"


def _pairs(mapping: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"name": str(k), "value": str(v)} for k, v in (mapping or {}).items()]


def _status_text(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _url(entry: dict[str, Any]) -> str:
    host = (entry.get("headers") or {}).get("host") or "127.0.0.1"
    query = entry.get("query") or ""
    return f"http://{host}{entry.get('path', '/')}" + (f"?{query}" if query else "")


def _http_version(entry: dict[str, Any]) -> str:
    return f"HTTP/{entry.get('http_version') or '1.1'}"


def _request(entry: dict[str, Any]) -> dict[str, Any]:
    headers = entry.get("headers") or {}
    request: dict[str, Any] = {
        "method": entry.get("method", "GET"),
        "url": _url(entry),
        "httpVersion": _http_version(entry),
        "cookies": [],
        "headers": _pairs(headers),
        "queryString": [{"name": k, "value": v} for k, v in parse_qsl(entry.get("query") or "",
                                                                       keep_blank_values=True)],
        "headersSize": -1,
        "bodySize": 0,
    }
    body = entry.get("body")
    if body is not None:
        text = body if isinstance(body, str) else orjson.dumps(body).decode()
        request["postData"] = {"mimeType": headers.get("content-type") or "application/json", "text": text}
        request["bodySize"] = len(text.encode())
    return request


def _response(entry: dict[str, Any]) -> dict[str, Any]:
    answered = entry.get("response") or {}
    headers = answered.get("headers") or {}
    status = entry.get("status") or 0  # 0: no answer went out (HAR's value for a request that got none)
    chunks = answered.get("chunks")
    if chunks is not None:
        text = "".join(f"{chunk}\n\n" for chunk in chunks)
    else:
        text = answered.get("body") or ""
    size = answered.get("size", len(text.encode()))
    content: dict[str, Any] = {"size": size,
                               "mimeType": headers.get("content-type") or (SSE if chunks is not None else ""),
                               "text": text}
    if answered.get("truncated"):
        content["comment"] = (f"cut by the mock's journal: the first {MAX_JOURNAL_BODY_BYTES} of {size} bytes "
                              "(limits.MAX_JOURNAL_BODY_BYTES)")
    return {
        "status": status,
        "statusText": _status_text(status) if status else "",
        "httpVersion": _http_version(entry),
        "cookies": [],
        "headers": _pairs(headers),
        "content": content,
        "redirectURL": headers.get("location", ""),
        "headersSize": -1,
        "bodySize": size if answered else -1,
    }


def _timings(entry: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """The entry's total time and its split: waiting until the status line, then receiving the rest."""
    total = max(float(entry.get("duration_ms") or 0.0), 0.0)
    first = (entry.get("response") or {}).get("first_byte_ms")
    wait = min(max(float(first), 0.0), total) if first is not None else total
    return total, {"blocked": -1, "dns": -1, "connect": -1, "ssl": -1,
                   "send": 0, "wait": wait, "receive": round(total - wait, 3)}


def har_entry(entry: dict[str, Any]) -> dict[str, Any]:
    total, timings = _timings(entry)
    started = datetime.fromtimestamp(float(entry.get("time") or 0.0), timezone.utc)
    out: dict[str, Any] = {
        "startedDateTime": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "time": total,
        "request": _request(entry),
        "response": _response(entry),
        "cache": {},
        "timings": timings,
        "_id": entry.get("id"),
        "_requestId": entry.get("request_id"),
        "_session": entry.get("session"),
        "_spec": entry.get("spec"),
        "_operation": entry.get("operation"),
        "_source": entry.get("source"),
    }
    for key, name in (("error", "_error"), ("stream", "_stream")):
        if entry.get(key) is not None:
            out[name] = entry[key]
    return out


def har(entries: list[dict[str, Any]], version: str) -> dict[str, Any]:
    """The whole archive: ``entries`` (oldest first) under one log, ``version`` the mock's."""
    return {"log": {
        "version": VERSION,
        "creator": {"name": "mockserver", "version": version},
        "pages": [],
        "entries": [har_entry(entry) for entry in entries],
        "comment": "Exchanges journaled by mockserver (the server's side), oldest first.",
    }}
