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

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "cookie", "set-cookie",
                            "proxy-authorization", "x-admin-token"})


MAX_DEPTH = 64  # the journal's encoder stops at 255 levels; no real request nests this deep


def _shallow(value: Any, limit: int) -> bool:
    """Whether ``value`` nests at most ``limit`` levels (iterative: deep input cannot overflow)."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            if depth >= limit:
                return False
            stack.extend((child, depth + 1) for child in node if isinstance(child, (dict, list)))
    return True


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

    def entry(self) -> dict[str, Any]:
        body = self.body if _shallow(self.body, MAX_DEPTH) else f"[a JSON body nested deeper than {MAX_DEPTH} levels]"
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
            "duration_ms": round((time.time() - self.started) * 1000, 3),
        }
