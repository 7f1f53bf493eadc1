"""Connexion: loads each served spec, routes operations, validates requests.

Each contract gets its own ``ConnexionMiddleware``: Connexion keys APIs by
base path, and two APIs at the same base path with the same operationId (as
ours are) would be validated against the wrong operation. Only the routing
and request-validation middlewares are kept: errors become OpenAI errors one
level up, and responses (JSON and every SSE chunk) are validated by
``dispatch``, which Connexion's response validation cannot do for streams.

The body validator is ours: it parses with orjson, enforces the size limit,
validates with the operation's validator compiled at start-up, and hands the
parsed body down in the scope so it is parsed exactly once.
"""

from __future__ import annotations

from typing import Any

import orjson
from connexion.datastructures import MediaTypeDict
from connexion.middleware.main import ConnexionMiddleware
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.resolver import Resolver
from connexion.validators import AbstractRequestBodyValidator
from starlette.types import ASGIApp, Receive, Scope

from mockserver import handlers
from mockserver.contract import Contract
from mockserver.errors import InvalidRequest, UnsupportedMediaType
from mockserver.server.asgi import header, read_body

ROUTING = "connexion_routing"


def routed_operation(scope: Scope) -> str | None:
    return scope.get("extensions", {}).get(ROUTING, {}).get("operation_id")


class BodyValidator(AbstractRequestBodyValidator):
    """JSON request bodies, checked by the operation's compiled validator."""

    async def wrap_receive(self, receive: Receive, *, scope: Scope) -> tuple[Receive, Scope]:
        charset = _charset(header(scope, b"content-type") or b"")
        if charset not in (None, "utf-8", "utf8"):
            raise UnsupportedMediaType(
                f"Unsupported charset {charset!r}: JSON request bodies must be UTF-8.",
            )
        state = scope["mockserver.state"]
        contract: Contract = scope["mockserver.contract"]
        operation = contract.operations[routed_operation(scope)]
        raw, messages = await read_body(receive, state.settings.max_body)
        record = scope.get("mockserver.record")
        if record is not None:
            record.body = raw[:65536].decode("utf-8", "replace")  # replaced by the parsed body below
        if not raw.strip():
            if self._required:
                raise InvalidRequest(
                    "The request body is empty; this operation requires a JSON object "
                    "(for example {\"model\": \"...\", \"messages\": [...]}).",
                    code="missing_body",
                )
            body: Any = None
        else:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise InvalidRequest(
                    f"We could not parse the JSON body of your request: {exc}. "
                    "The body must be valid JSON encoded as UTF-8.",
                    code="invalid_json",
                ) from None
        if record is not None:
            record.body = body
        if operation.request is not None and not (body is None and not self._required):
            operation.request.check_request(body)
        replay = iter(messages)

        async def receive_() -> Any:
            for message in replay:
                return message
            return await receive()

        return receive_, {**scope, "mockserver.body": body}


def _charset(content_type: bytes) -> str | None:
    for param in content_type.decode("latin-1").split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset":
            return value.strip().strip('"').lower()
    return None


VALIDATOR_MAP = {"body": MediaTypeDict({"*/*json": BodyValidator})}


def contract_app(contract: Contract, inner: ASGIApp) -> ASGIApp:
    """A Connexion stack for one contract, built now rather than on first request."""
    middleware = ConnexionMiddleware(
        inner,
        middlewares=[RoutingMiddleware, RequestValidationMiddleware],
        validator_map=VALIDATOR_MAP,
    )
    middleware.add_api(
        contract.spec.document,
        base_path="",
        name=contract.name,
        resolver=Resolver(handlers.resolve),
    )
    # Connexion builds its stack lazily on the first request; building it here
    # keeps spec preparation out of the first request and surfaces errors at start-up.
    middleware.app, middleware.middleware_stack = middleware._build_middleware_stack()
    return middleware
