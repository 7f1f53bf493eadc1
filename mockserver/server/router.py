"""The outer ASGI application.

It picks the contract by path (from the served specs, never a hand-written
route), answers what no contract owns (404, 405 with ``Allow``, CORS
preflights, the docs, the admin API, WebSocket handshakes), enforces the
body size limit before reading, and is the one place where errors become
OpenAI-style responses. Every answer leaves through it, so it also gives
each one its ``x-request-id`` (as the OpenAI API does) and, for an allowed
browser origin, its CORS headers.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from connexion.exceptions import ProblemException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.contract import Contract
from mockserver.errors import MethodNotAllowed, MockError, NotFound, PayloadTooLarge, ServerError
from mockserver.ids import fresh_hex
from mockserver.server import admin_guard, cors, docs, suggest, websocket
from mockserver.journal import Record
from mockserver.logs import clip
from mockserver.server.asgi import CLIENT_GONE, header, headers_dict, send_bytes, send_json
from mockserver.server.dispatch import StreamCut

log = logging.getLogger("mockserver.http")

ADMIN = "/__admin"
UI = ADMIN + "/ui"
REQUEST_ID = b"x-request-id"

class ClientGone(OSError):
    """The client closed the connection while we were sending: nothing to answer."""


_PROBLEM_CODES = {400: "invalid_value", 404: "not_found", 405: "method_not_allowed",
                  413: "request_too_large", 415: "unsupported_media_type"}
_PROBLEM_TYPES = {400: "invalid_request_error", 404: "invalid_request_error", 405: "invalid_request_error",
                  413: "invalid_request_error", 415: "invalid_request_error"}


@dataclass
class Mount:
    contract: Contract
    app: ASGIApp
    path: str
    methods: list[str]
    pattern: re.Pattern[str] | None = None

    @property
    def operation_ids(self) -> dict[str, str]:
        return {m: op.operation_id for m, op in self.contract.routes.get(self.path, {}).items()}


class MockApp:
    def __init__(self, state: Any, mounts: list[Mount]) -> None:
        self.state = state
        self.exact: dict[str, Mount] = {}
        self.templated: list[Mount] = []
        for mount in mounts:
            if "{" in mount.path:
                mount.pattern = compile_path(mount.path)[0]
                self.templated.append(mount)
            else:
                self.exact[mount.path] = mount
        self.documents: dict[str, dict] = {}  # one per served spec (a spec has a mount per path)
        docs_documents: dict[str, dict] = {}
        for mount in mounts:
            name = mount.contract.name
            if name not in self.documents:
                self.documents[name] = mount.contract.spec.document
                # The contracts' operations: the admin API's thread_id is a filter, it creates nothing.
                chat = [op for op in mount.contract.operations.values() if not op.path.startswith(ADMIN)]
                docs_documents[name] = docs.try_it_document(self.documents[name], chat)
        self.spec_names = list(self.documents)
        self.docs_documents = docs_documents

    def match(self, path: str) -> Mount | None:
        mount = self.exact.get(path)
        if mount is None and len(path) > 1 and path.endswith("/"):
            mount = self.exact.get(path.rstrip("/"))
        if mount is None:
            for candidate in self.templated:
                assert candidate.pattern is not None
                if candidate.pattern.match(path):
                    return candidate
        return mount

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            await websocket.refuse(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        origin = header(scope, b"origin")
        cors_extra: list[tuple[bytes, bytes]] = []
        if origin is not None and self.state.cors_allows(origin):
            cors_extra = cors.response_headers(origin)
        started = False
        record: Record | None = None
        request_id = b"req_" + fresh_hex(32).encode()

        async def send_(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [*message.get("headers", ()), *cors_extra]
                sent_id = next((v for k, v in headers if k == REQUEST_ID), None)  # a relayed upstream's own
                if sent_id is None:
                    headers.append((REQUEST_ID, request_id))
                if record is not None:
                    record.status = message["status"]
                    record.request_id = (sent_id or request_id).decode("latin-1")
                    record.response_headers, record.answered = headers, time.time()
                message = {**message, "headers": headers}
            elif record is not None and record.frames is None:
                # The answer's text for the journal (a planned stream's is read off its plan).
                record.take(message.get("body", b""))
            try:
                await send(message)
            except (OSError, RuntimeError) as exc:
                # uvloop raises RuntimeError on a transport the client already reset.
                CLIENT_GONE.set(True)
                raise ClientGone(str(exc)) from exc

        try:
            path = scope["path"]
            admin = path.startswith(ADMIN)
            if path == UI or path.startswith(UI + "/"):
                # The inspector page itself is static; the API calls it makes carry the token.
                if await self._builtin(scope, send_):
                    return
            if admin:  # the token; for state changes, the origin and a JSON body
                settings = self.state.settings
                admin_guard.check(scope, settings.admin_token, settings.cors_origins)
            mount = self.match(path)
            if mount is None and await self._builtin(scope, send_):
                return
            if not admin:  # the journal records client traffic, not the admin API's
                record = scope["mockserver.record"] = Record(
                    scope["method"], path, headers_dict(scope),
                    session=(header(scope, b"x-mock-session") or b"default").decode("latin-1"),
                    query=scope.get("query_string", b"").decode("latin-1"),
                    http_version=scope.get("http_version", "1.1"))
            method = scope["method"]
            requested = header(scope, b"access-control-request-method")
            if method == "OPTIONS" and requested:
                # Any path, a mistyped one too: refused here, the browser would only
                # say "Failed to fetch"; answered, the request itself gets its 404
                # (with CORS headers) naming the closest served operation.
                await self._preflight(scope, send_, mount, origin, requested)
                return
            if mount is None:
                raise NotFound(self._unknown_path(method, path))
            if method not in mount.methods:
                raise MethodNotAllowed(
                    f"Method {method} is not allowed on {mount.path}; allowed: {', '.join(mount.methods)}.",
                    headers={"allow": ", ".join(mount.methods)},
                )
            length = header(scope, b"content-length")
            if length is not None and length.isdigit() and int(length) > self.state.settings.max_body:
                raise PayloadTooLarge(
                    f"Request body of {int(length)} bytes is larger than the limit of "
                    f"{self.state.settings.max_body} bytes (set it with --max-body)."
                )
            if record is not None:
                record.spec = mount.contract.name
                record.operation = mount.operation_ids.get(method)
            scope["mockserver.state"] = self.state
            scope["mockserver.contract"] = mount.contract
            await mount.app(scope, receive, send_)
        except MockError as exc:
            await self._error(send_, started, exc, scope)
        except ProblemException as exc:
            status = exc.status if 400 <= exc.status < 600 else 400
            await self._error(send_, started, MockError(
                str(exc.detail or exc.title), status=status,
                type=_PROBLEM_TYPES.get(status, "invalid_request_error"),
                code=_PROBLEM_CODES.get(status),
            ), scope)
        except StreamCut:
            raise  # the connection must drop: that is the fault asked for
        except ClientGone:
            log.debug("client went away during %s %s", scope.get("method"), scope.get("path"))
        except Exception:  # a bug of ours: log it, answer a clean 500
            log.exception("unhandled error while serving %s %s", scope.get("method"), scope.get("path"))
            await self._error(send_, started, ServerError(
                "The mock server hit an internal error; see its log. This is a bug of the mock, not of your request."
            ), scope)
        finally:
            if record is not None:
                self.state.journal_write(record)

    async def _error(self, send: Send, started: bool, exc: MockError, scope: Scope) -> None:
        if started:
            log.error("error after the response started: %s", clip(exc.message))
            return
        body = exc.body()
        record = scope.get("mockserver.record")
        if record is not None:
            record.error = body["error"]
        operation = scope.get("mockserver.operation")
        if operation is not None and operation.error is not None:
            # Errors are responses too: they must match the declared error shape.
            if not operation.error.is_valid(body):
                log.error("error body does not match %s: %s", operation.error.name, clip(str(body)))
        extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items()]
        await send_json(send, exc.status, body, extra)

    async def _preflight(self, scope: Scope, send: Send, mount: Mount | None, origin: bytes | None,
                         method: bytes) -> None:
        """Answer a CORS preflight; ``send`` adds the origin's headers (it is allowed, or this raised).

        A served path allows its methods; an unknown one the method asked
        for, so that the request is sent and its 404 can be read.
        """
        if origin is None or not self.state.cors_allows(origin):
            raise MockError(
                f"CORS preflight from origin {clip(origin.decode('latin-1')) if origin else None!r} is not "
                "allowed; loopback origins are allowed by default.",
                status=403, type="invalid_request_error", code="cors_forbidden",
            )
        methods = mount.methods if mount is not None else [method.decode("latin-1")]
        requested = header(scope, b"access-control-request-headers")
        await send({
            "type": "http.response.start", "status": 204,
            "headers": cors.preflight_headers(methods, requested),
        })
        await send({"type": "http.response.body", "body": b""})

    async def _builtin(self, scope: Scope, send: Send) -> bool:
        """Docs and the served specs; True if the path was one of them."""
        path, method = scope["path"], scope["method"]
        if method not in ("GET", "HEAD"):
            return False
        if path.startswith("/openapi/") and path.endswith(".json"):
            name = path[len("/openapi/"):-len(".json")]
            if name in self.documents:
                await send_bytes(send, 200, docs.spec_json(self.documents[name]))
                return True
            return False
        if path.startswith(docs.DOCS_SPECS) and path.endswith(".json"):
            name = path[len(docs.DOCS_SPECS):-len(".json")]
            if name in self.docs_documents:
                await send_bytes(send, 200, docs.spec_json(self.docs_documents[name]))
                return True
            return False
        if path in ("/docs", "/docs/"):
            await send_bytes(send, 200, docs.ui_page(self.spec_names), b"text/html; charset=utf-8")
            return True
        if path.startswith(docs.UI_PREFIX):
            found = docs.static_file(path)
            if found is not None:
                await send_bytes(send, 200, found[0], found[1])
                return True
            return False
        if path == UI or path.startswith(UI + "/"):
            found = docs.inspector_file(path[len(UI):].lstrip("/") or "inspector.html")
            if found is not None:
                await send_bytes(send, 200, found[0], found[1])
                return True
            return False
        if path == "/":
            await send_json(send, 200, {
                "service": "mockserver",
                "operations": self._listing(),
                "specs": {n: f"/openapi/{n}.json" for n in self.spec_names},
                "docs": "/docs",
                "health": "/__admin/health",
            })
            return True
        return False

    def _listing(self) -> list[str]:
        mounts = [*self.exact.values(), *self.templated]
        return [f"{m} {mount.path} ({mount.contract.name})" for mount in mounts for m in mount.methods]

    def _unknown_path(self, method: str, path: str) -> str:
        """The 404 message: the closest served operation first, if one is close, then all of them."""
        operations = [(m, mount.path) for mount in [*self.exact.values(), *self.templated] for m in mount.methods]
        near = suggest.closest(method, path, operations)
        hint = f" Did you mean {near[0]} {near[1]}?" if near is not None else ""
        return f"Unknown path {clip(path)!r}.{hint} Served operations: {self._listing()}."

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.state.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.state.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return
