"""Semantic checks of a request beyond what its schema can say.

The schema check (Connexion + compiled validators) runs first; these rules
catch requests that are well-formed yet cannot be honoured, each with the
``param`` it is about.
"""

from __future__ import annotations

from typing import Any

from mockserver.errors import InvalidRequest


def token_limit(body: dict[str, Any]) -> int | None:
    """``max_completion_tokens`` (preferred) or ``max_tokens``, if sent."""
    for name in ("max_completion_tokens", "max_tokens"):
        if name in body and body[name] is not None:
            value = body[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidRequest(
                    f"Invalid '{name}': expected an integer greater than or equal to 1, got {value!r}.",
                    param=name,
                    code="invalid_value",
                )
            return value
    return None


def stream_options(body: dict[str, Any], streaming: bool) -> bool:
    """Whether a usage chunk was asked for (``stream_options.include_usage``)."""
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise InvalidRequest("Invalid 'stream_options': expected an object.", param="stream_options")
    if not streaming:
        raise InvalidRequest(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    include = options.get("include_usage", False)
    if not isinstance(include, bool):
        raise InvalidRequest(
            "Invalid 'stream_options.include_usage': expected a boolean.",
            param="stream_options.include_usage",
        )
    return include
