"""The request journal: what each client sent and what it got.

The HTTP layer opens a :class:`Record` per request; the body validator, the
handler and the sender fill it in; it is written to the store (bounded) when
the response is done. Invalid requests are journaled too, with their error:
that is what a contract test wants to read. Secrets never reach the store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from mockserver import nesting
from mockserver.limits import MAX_JSON_DEPTH

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "cookie", "set-cookie",
                            "proxy-authorization", "x-admin-token"})


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: (REDACTED if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


@dataclass
class Record:
    method: str
    path: str
    headers: dict[str, str]
    session: str = "default"
    started: float = field(default_factory=time.time)
    spec: str | None = None
    operation: str | None = None
    body: Any = None
    status: int | None = None
    error: dict[str, Any] | None = None
    source: str | None = None  # "generated", "fixture:ID", "unmatched", "prefer:code"
    near_misses: list[str] = field(default_factory=list)
    stream: dict[str, Any] | None = None
    request_id: str | None = None  # the x-request-id the answer carried

    def entry(self) -> dict[str, Any]:
        # A body is refused past this depth on the way in; this guards the
        # store's encoder (254 levels) against a body that never went through that check.
        body = (self.body if nesting.within(self.body, MAX_JSON_DEPTH)
                else f"[a JSON body nested deeper than {MAX_JSON_DEPTH} levels]")
        return {
            "time": self.started,
            "session": self.session,
            "method": self.method,
            "path": self.path,
            "spec": self.spec,
            "operation": self.operation,
            "headers": redact_headers(self.headers),
            "body": body,
            "status": self.status,
            "error": self.error,
            "source": self.source,
            "fixture": self.source[8:] if self.source and self.source.startswith("fixture:") else None,
            "near_misses": self.near_misses,
            "stream": self.stream,
            "request_id": self.request_id,
            "duration_ms": round((time.time() - self.started) * 1000, 3),
        }
