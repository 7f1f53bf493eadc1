"""Who may call the admin API: the token, the origin, the body's media type.

Why more than the token: without ``--admin-token`` (the default on a
developer's machine) any web page the developer visits could wipe the
mock's state, since a browser sends a "simple" cross-site request (a
``POST`` with ``Content-Type: text/plain``, a bodiless ``DELETE`` from a
form or ``fetch(..., {mode: "no-cors"})``) without asking first. So a
request that changes state (any method but GET, HEAD and OPTIONS):

* is refused (403 ``admin_origin_forbidden``) when it carries an ``Origin``
  that is not allowed: loopback origins (the inspector page is same-origin
  on a loopback host) and ``--cors-origin`` values are, whether or not CORS
  headers are sent (``--no-cors``);
* must send its body, if any, as ``application/json`` (415 otherwise): a
  browser preflights such a request, and the CORS rules then decide.

Requests without ``Origin`` (curl, the SDKs, the pytest plugin) are not
browsers' and pass. Reads stay open: a foreign page cannot read the answer
(no CORS headers are sent to it). The token is compared in constant time.
"""

from __future__ import annotations

import hmac
from typing import Any

from mockserver.errors import MockError, UnsupportedMediaType
from mockserver.logs import clip
from mockserver.server import cors
from mockserver.server.asgi import header

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
JSON = "application/json"


def check(scope: dict[str, Any], admin_token: str | None, cors_origins: list[str]) -> None:
    """Raise the error a request to the admin API gets, if it may not proceed."""
    _check_token(scope, admin_token)
    method = scope["method"]
    if method in SAFE_METHODS:
        return
    origin = header(scope, b"origin")
    if origin is not None and not cors.admin_allows(origin.decode("latin-1"), cors_origins):
        raise MockError(
            f"The admin API refuses {method} {scope['path']} from origin "
            f"{clip(origin.decode('latin-1'), 200)!r}: requests that change state are taken from loopback "
            "origins and --cors-origin values only (a web page on another site must not reset the mock).",
            status=403, type="invalid_request_error", code="admin_origin_forbidden", param="Origin",
        )
    content_type = header(scope, b"content-type")
    if content_type is None and not _has_body(scope):
        return
    media = (content_type or b"").decode("latin-1").split(";")[0].strip().lower()
    if media != JSON:
        raise UnsupportedMediaType(
            f"The admin API takes request bodies as {JSON} only (got "
            f"{clip(media, 200) or 'a body without Content-Type'!r}), so that a browser must ask first "
            "(a CORS preflight) before another site's page can send one.",
            param="Content-Type",
        )


def _has_body(scope: dict[str, Any]) -> bool:
    length = header(scope, b"content-length")
    if length is not None:
        return length.strip() not in (b"", b"0")
    return header(scope, b"transfer-encoding") is not None


def _check_token(scope: dict[str, Any], token: str | None) -> None:
    if not token:
        return
    expected = token.encode()
    # Both compared, each in constant time, whatever the first gives: the time taken says nothing of the token.
    by_bearer = hmac.compare_digest(header(scope, b"authorization") or b"", b"Bearer " + expected)
    by_header = hmac.compare_digest(header(scope, b"x-admin-token") or b"", expected)
    if not (by_bearer or by_header):
        raise MockError("The admin API needs 'Authorization: Bearer <token>' (the --admin-token value).",
                        status=401, type="invalid_request_error", code="invalid_admin_token",
                        headers={"www-authenticate": "Bearer"})
