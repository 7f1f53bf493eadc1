"""OpenAI-style errors.

Everything below the HTTP layer raises :class:`MockError` (or a subclass) with
an OpenAI error ``type`` and the ``param`` it is about; exactly one place, the
HTTP error middleware, turns them into ``{"error": {...}}`` responses. No
module here knows about HTTP beyond the status code it suggests and the
headers the real API sends with it (:data:`DEFAULT_ERROR_HEADERS`).
"""

from __future__ import annotations

from typing import Any, Mapping

# The headers the OpenAI API sends with these error statuses. Why defaults:
# an SDK's retry logic reads them (``retry-after``), and so do clients that
# back off on the rate-limit headers; a mock 429 without them tests a path
# the real API never takes. Used for every error a fixture or ``Prefer:
# code=N`` asks for (:func:`error_headers`); the values agree with the
# default 429 message ("Please try again in 1s").
DEFAULT_ERROR_HEADERS: dict[int, dict[str, str]] = {
    429: {
        "retry-after": "1",
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-limit-tokens": "150000",
        "x-ratelimit-remaining-tokens": "150000",
        "x-ratelimit-reset-tokens": "0s",
    },
    503: {"retry-after": "1"},
}

# A header that says the same as a default: when it is given, the default is not sent
# (``retry-after-ms: 50`` and a default ``retry-after: 1`` would contradict each other).
_SAME_AS = {"retry-after-ms": "retry-after"}


def error_headers(status: int, given: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers of an error answer: ``given`` (a fixture's), over the defaults for ``status``.

    Names are compared without case (a fixture may write ``Retry-After``);
    the given spelling is the one sent.
    """
    given = dict(given or {})
    taken = {_SAME_AS.get(name.lower(), name.lower()) for name in given}
    defaults = {k: v for k, v in DEFAULT_ERROR_HEADERS.get(status, {}).items() if k not in taken}
    return {**defaults, **given}


class MockError(Exception):
    """An error the client should see, in the OpenAI error shape."""

    status: int = 400
    type: str = "invalid_request_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body as the OpenAI API returns it."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(MockError):
    """400: the request is not acceptable under the served contract."""

    status = 400
    type = "invalid_request_error"


class NotFound(MockError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class MethodNotAllowed(MockError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class PayloadTooLarge(MockError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class UnsupportedMediaType(MockError):
    status = 415
    type = "invalid_request_error"
    code = "unsupported_media_type"


class ContractViolation(MockError):
    """500: the mock was about to send something the contract forbids.

    This is a bug of the mock or of a fixture, never of the client; the invalid
    data is withheld and this error is sent instead.
    """

    status = 500
    type = "mock_contract_violation"
    code = "mock_contract_violation"


class ServerError(MockError):
    status = 500
    type = "server_error"
    code = "internal_error"
