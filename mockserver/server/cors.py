"""CORS for browser frontends on another localhost port.

By default any loopback origin (``localhost``, ``127.0.0.1``, ``[::1]``, any
port, http or https) may call the mock; preflights are answered for the
requested headers (the OpenAI SDKs send ``authorization``, ``content-type``,
``x-stainless-*`` and ``openai-*``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# What a page may read of an answer: the request id and the headers a client backs off on.
EXPOSED = (b"x-request-id, retry-after, retry-after-ms, x-mock-fixture, x-ratelimit-limit-requests, "
           b"x-ratelimit-remaining-requests, x-ratelimit-reset-requests, x-ratelimit-limit-tokens, "
           b"x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens")


def is_loopback_origin(origin: str) -> bool:
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and (parts.hostname or "") in LOOPBACK_HOSTS


def allows(origin: str, configured: list[str], enabled: bool) -> bool:
    """Loopback origins by default; ``--cors-origin`` lists others (``*``: any); ``--no-cors``: none."""
    if not enabled:
        return False
    if "*" in configured or origin in configured:
        return True
    return is_loopback_origin(origin)


def admin_allows(origin: str, configured: list[str]) -> bool:
    """May a page from ``origin`` change the admin API's state? Loopback and ``--cors-origin`` values.

    Unlike :func:`allows`, ``--no-cors`` does not close it to loopback: the
    inspector page calls its own server (same-origin), which needs no CORS.
    """
    return "*" in configured or origin in configured or is_loopback_origin(origin)


def response_headers(origin: bytes) -> list[tuple[bytes, bytes]]:
    """The headers every answer to an allowed origin carries (preflights included)."""
    return [
        (b"access-control-allow-origin", origin),
        (b"vary", b"origin"),
        (b"access-control-expose-headers", EXPOSED),
    ]


def preflight_headers(methods: list[str], requested: bytes | None) -> list[tuple[bytes, bytes]]:
    """What a preflight adds to :func:`response_headers`: the methods and headers allowed."""
    allow_methods = ", ".join(sorted({*methods, "OPTIONS"})).encode()
    return [
        (b"access-control-allow-methods", allow_methods),
        (b"access-control-max-age", b"600"),
        (b"access-control-allow-headers", requested or b"authorization, content-type"),
    ]
