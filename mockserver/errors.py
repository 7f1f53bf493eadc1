"""OpenAI-style errors.

Everything below the HTTP layer raises :class:`MockError` (or a subclass) with
an OpenAI error ``type`` and the ``param`` it is about; exactly one place, the
HTTP error middleware, turns them into ``{"error": {...}}`` responses. No
module here knows about HTTP beyond the status code it suggests.
"""

from __future__ import annotations

from typing import Any


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
