"""Connexion: loads each served spec, routes operations, validates requests.

Each contract gets its own ``ConnexionMiddleware``: Connexion keys APIs by
base path, and two APIs at the same base path with the same operationId (as
ours are) would be validated against the wrong operation. Only the routing
and request-validation middlewares are kept: errors become OpenAI errors one
level up, and responses (JSON and every SSE chunk) are validated by
``dispatch``, which Connexion's response validation cannot do for streams.

The body validator is ours: it parses with orjson, enforces the size limit
and the nesting limit (``limits.MAX_JSON_DEPTH``: orjson reads 1,024 levels
but writes only 254, so a deeper body would fail on its way to the journal
or the thread store), validates with the operation's validator compiled at
start-up, and hands the parsed body down in the scope so it is parsed
exactly once.
"""

from __future__ import annotations

from typing import Any, Callable

import orjson
from connexion import utils
from connexion.datastructures import MediaTypeDict
from connexion.middleware.main import ConnexionMiddleware
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.middleware.routing import RoutingMiddleware
from connexion.resolver import Resolver
from connexion.validators import AbstractRequestBodyValidator, ParameterValidator
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver import nesting
from mockserver.contract import Contract
from mockserver.errors import InvalidRequest, UnsupportedMediaType
from mockserver.limits import MAX_JSON_DEPTH
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
                if "depth limit" in str(exc):  # orjson's own limit (1,024): the same answer as ours
                    raise _too_deep(None, parsed=False) from None
                raise InvalidRequest(
                    f"We could not parse the JSON body of your request: {exc}. "
                    "The body must be valid JSON encoded as UTF-8.",
                    code="invalid_json",
                ) from None
            if not nesting.raw_within(raw, MAX_JSON_DEPTH):
                deep, where = nesting.too_deep(body, MAX_JSON_DEPTH)
                if deep:
                    raise _too_deep(where)
        if record is not None:
            record.body, record.body_checked = body, True
        if operation.request is not None and not (body is None and not self._required):
            operation.request.check_request(body)
        replay = iter(messages)

        async def receive_() -> Any:
            for message in replay:
                return message
            return await receive()

        return receive_, {**scope, "mockserver.body": body}


def _too_deep(where: str | None, *, parsed: bool = True) -> InvalidRequest:
    """The answer to a body nested past ``MAX_JSON_DEPTH``: it could be parsed, but not written back out."""
    inside = f" (in {where!r})" if where is not None else ""
    opening = "The JSON body of your request" if parsed else "We could not parse the JSON body of your request: it"
    return InvalidRequest(
        f"{opening} nests deeper than {MAX_JSON_DEPTH} levels{inside}; the mock accepts at most "
        f"{MAX_JSON_DEPTH} levels of nested objects and arrays (limits.MAX_JSON_DEPTH).",
        param=where, code="json_too_deep",
    )


def _charset(content_type: bytes) -> str | None:
    for param in content_type.decode("latin-1").split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset":
            return value.strip().strip('"').lower()
    return None


class NamedParameterValidator(ParameterValidator):
    """Connexion's parameter checks, with the failing parameter named.

    Connexion's own error is the validator's text with the schema dumped
    after it, and no name: the client gets the OpenAI shape instead, with
    ``param`` set and the first line of the reason.
    """

    def validate_request(self, request: Any) -> None:
        if self.strict_validation:  # not used by this server; Connexion's own handling if it were
            super().validate_request(request)
            return
        checks = (("query", self.validate_query_parameter), ("path", self.validate_path_parameter),
                  ("header", self.validate_header_parameter), ("cookie", self.validate_cookie_parameter))
        for where, check in checks:
            for param in self.parameters.get(where, []):
                error = check(param, request)
                if error:
                    reason = str(error).strip().splitlines()[0]
                    raise InvalidRequest(f"Invalid {where} parameter {param['name']!r}: {reason}",
                                         param=param["name"], code="invalid_value")


VALIDATOR_MAP = {"body": MediaTypeDict({"*/*json": BodyValidator}), "parameter": NamedParameterValidator}

PREPARED_CONTENT_TYPES = 64  # distinct Content-Type values remembered per operation


class PreparedRequestValidation(RequestValidationOperation):
    """Connexion's request-validation step for one operation, with what does
    not change between requests prepared once.

    Why: for every request Connexion builds two URI parsers and a parameter
    validator, matches the Content-Type against the operation's media types
    and the validator map with ``fnmatch``, and builds a new body validator;
    profiling a plain completion showed that as about 15 % of its time. For
    an operation without parameters the parameter validator has nothing to
    check (strict validation is off: unknown query parameters are ignored,
    as Connexion ignores them), and the rest depends only on the
    Content-Type value, so it is done once per distinct value, by Connexion's
    own methods, and reused. Operations with parameters (the admin API) take
    Connexion's own path unchanged.
    """

    def __init__(self, next_app: ASGIApp, **kwargs: Any) -> None:
        super().__init__(next_app, **kwargs)
        self._prepared = not self._operation.parameters and not self.strict_validation
        self._by_content_type: dict[bytes | None, Any] = {}  # Content-Type value -> body validator or None

    def _prepare(self, raw: bytes | None, headers: list) -> Any:
        """The body validator (or None) for one Content-Type value, as Connexion decides it."""
        mime_type, encoding = self.extract_content_type(headers)
        self.validate_mime_type(mime_type)  # raises Connexion's 415 problem: not remembered
        validator = None
        schema = self._operation.body_schema(mime_type)
        if schema:
            validator_cls = self._validator_map["body"].get(mime_type)
            if validator_cls is not None:
                validator = validator_cls(
                    schema=schema,
                    required=self._operation.request_body.get("required", False),
                    nullable=utils.is_nullable(self._operation.body_definition(mime_type)),
                    encoding=encoding,
                    strict_validation=self.strict_validation,
                    uri_parser=self._operation.uri_parser_class(
                        self._operation.parameters, self._operation.body_definition()
                    ),
                )
        if len(self._by_content_type) < PREPARED_CONTENT_TYPES:
            self._by_content_type[raw] = validator
        return validator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._prepared:
            await super().__call__(scope, receive, send)
            return
        raw = header(scope, b"content-type")
        if raw in self._by_content_type:
            validator = self._by_content_type[raw]
        else:
            validator = self._prepare(raw, scope["headers"])
        if validator is not None:
            receive, scope = await validator.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)


class PreparedValidationAPI(RequestValidationAPI):
    def make_operation(self, operation: Any) -> RequestValidationOperation:
        return PreparedRequestValidation(self.next_app, operation=operation,
                                         strict_validation=self.strict_validation,
                                         validator_map=self.validator_map)


class PreparedValidationMiddleware(RequestValidationMiddleware):
    """Connexion's request validation, built from :class:`PreparedRequestValidation` steps."""

    api_cls = PreparedValidationAPI


def contract_app(contract: Contract, inner: ASGIApp, resolve: Callable[[str], Any]) -> ASGIApp:
    """A Connexion stack for one contract, built now rather than on first request.

    ``resolve`` maps an operationId to its handler (the app's table): passed in,
    so the HTTP layer imports no handler module.
    """
    middleware = ConnexionMiddleware(
        inner,
        middlewares=[RoutingMiddleware, PreparedValidationMiddleware],
        validator_map=VALIDATOR_MAP,
    )
    middleware.add_api(
        contract.spec.document,
        base_path="",
        name=contract.name,
        resolver=Resolver(resolve),
    )
    # Connexion builds its stack lazily on the first request; building it here
    # keeps spec preparation out of the first request and surfaces errors at start-up.
    middleware.app, middleware.middleware_stack = middleware._build_middleware_stack()
    return middleware
