"""Secrets never reach a cassette: headers and body fields are replaced first."""

from __future__ import annotations

from typing import Any, Iterable

REDACTED = "[redacted]"
ALWAYS = frozenset({"authorization", "api-key", "x-api-key", "cookie", "set-cookie", "proxy-authorization",
                    "openai-organization", "openai-project"})
# Response headers worth keeping in a cassette (the rest is transport noise).
KEEP_RESPONSE_HEADERS = frozenset({"content-type", "retry-after", "x-request-id", "openai-processing-ms",
                                   "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
                                   "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens",
                                   "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"})


def redact_headers(headers: dict[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    names = ALWAYS | {e.lower() for e in extra}
    return {k: (REDACTED if k.lower() in names else v) for k, v in headers.items()}


def redact_body(body: Any, names: Iterable[str]) -> Any:
    """Replace every field named in ``names`` (at any depth)."""
    names = {n.lower() for n in names}
    if not names:
        return body
    if isinstance(body, dict):
        return {k: (REDACTED if k.lower() in names else redact_body(v, names)) for k, v in body.items()}
    if isinstance(body, list):
        return [redact_body(v, names) for v in body]
    return body


def response_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower() in KEEP_RESPONSE_HEADERS}
