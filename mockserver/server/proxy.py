"""Record mode: proxy each chat request to a real, OpenAI-compatible upstream.

The client's request has passed the contract (as always); it goes upstream
with the key from the environment variable named by ``--upstream-key-env``
(never from a file or the command line). The answer streams back as it
arrives, event by event, and is checked against the contract on the way:
violations by the real service are logged and journaled, so the mock doubles
as a contract checker of the upstream. When the exchange is complete it is
written as a cassette (secrets redacted first, written atomically).

Whether a request goes upstream at all is the record mode's call
(``--record-mode``, :mod:`mockserver.recording.modes`): ``all`` sends every
chat request; the others let the handler answer from what is loaded first,
and go upstream only when it raises ``Unrecorded`` and the mode may record.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from starlette.types import Send

from mockserver.contract import Operation
from mockserver.errors import MockError
from mockserver.outcome import Outcome
from mockserver.recording import cassette as cassette_mod
from mockserver.recording import filters, modes
from mockserver.server.asgi import send_json

log = logging.getLogger("mockserver.record")

# A client's headers go upstream, all but these: hop-by-hop ones (RFC 9110 7.6.1, plus
# what the proxy sets itself), the client's own credentials (the upstream key replaces
# them), and the mock's own controls. Names given to --redact are not forwarded either.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailer", "trailers", "transfer-encoding", "upgrade", "host", "content-length",
                        "content-type", "accept-encoding"})
CLIENT_CREDENTIALS = frozenset({"authorization", "api-key", "x-api-key", "cookie"})
MOCK_CONTROLS = frozenset({"x-mock-session", "prefer", "x-admin-token"})


class UpstreamUnavailable(MockError):
    status = 502
    type = "upstream_error"
    code = "upstream_unavailable"


class Recorder:
    def __init__(self, directory: Path, upstream: str | None, *, key_env: str | None, redact: list[str],
                 record_errors: bool, timeout: float = 120.0) -> None:
        self.directory = Path(directory)
        self.upstream = (upstream or "").rstrip("/")  # none: --record-mode none never goes upstream
        self.key_env = key_env
        self.redact = redact
        self.record_errors = record_errors
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None
        # --record-mode once records only into a folder that held no cassette when this process started.
        self.cassettes_at_start = modes.count_cassettes(self.directory)

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout, connect=10.0))
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def _headers(self, client_headers: dict[str, str]) -> dict[str, str]:
        skip = HOP_BY_HOP | CLIENT_CREDENTIALS | MOCK_CONTROLS | {name.lower() for name in self.redact}
        named = client_headers.get("connection", "")  # headers the client marked hop-by-hop itself
        skip |= {part.strip().lower() for part in named.split(",") if part.strip()}
        headers = {k: v for k, v in client_headers.items() if k.lower() not in skip}
        headers["content-type"] = "application/json"
        key = os.environ.get(self.key_env) if self.key_env else None
        if key:
            headers["authorization"] = f"Bearer {key}"
        return headers

    async def answer(self, call: Any, operation: Operation, send: Send) -> Outcome | None:
        """A chat request in record mode: None when it went upstream (the answer is sent),
        else the handler's outcome, for the dispatcher to send as usual."""
        mode = call.settings.record_mode
        if not modes.replays(mode):
            await self.forward(call, operation, send)
            return None
        try:
            return await operation.handler(call)
        except modes.Unrecorded as exc:
            if not self.upstream or not modes.may_record(mode, self.cassettes_at_start):
                raise exc.refused(modes.refusal(mode, self.directory, self.cassettes_at_start)) from None
        await self.forward(call, operation, send)
        return None

    async def forward(self, call: Any, operation: Operation, send: Send) -> None:
        body = call.body
        url = self.upstream + operation.path
        started = time.monotonic()
        violations: list[str] = []
        try:
            async with self.client().stream("POST", url, content=orjson.dumps(body),
                                            headers=self._headers(dict(call.headers))) as upstream:
                kind = upstream.headers.get("content-type", "")
                keep = filters.response_headers(dict(upstream.headers))
                if kind.startswith("text/event-stream") and upstream.status_code < 400:
                    events = await self._relay_stream(upstream, operation, send, started, violations)
                    response: dict[str, Any] = {"status": upstream.status_code, "headers": keep, "events": events}
                else:
                    raw = await upstream.aread()
                    try:
                        document = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        raise UpstreamUnavailable(
                            f"The upstream answered {upstream.status_code} with a body that is not JSON.") from None
                    validator = operation.response if upstream.status_code < 400 else operation.error
                    self._check(validator, document, "response body", violations)
                    extra = [(k.encode(), v.encode()) for k, v in keep.items() if k != "content-type"]
                    await send_json(send, upstream.status_code, document, extra)
                    response = {"status": upstream.status_code, "headers": keep, "body": document}
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"The upstream {self.upstream} could not be reached: {exc!r}.") from None
        if call.record is not None:
            call.record.source = "upstream"
            if violations:
                call.record.error = {"message": "upstream contract violations: " + "; ".join(violations),
                                     "type": "upstream_contract_violation", "param": None, "code": None}
        failed_mid_stream = any(e.get("event") == "error" for e in response.get("events", ()))
        if (response["status"] >= 400 or failed_mid_stream) and not self.record_errors:
            if failed_mid_stream:
                log.warning("upstream stream ended with an error event: relayed, not recorded "
                            "(--record-errors records upstream errors)")
            return
        if "events" in response and not (response["events"] and response["events"][-1].get("data") == "[DONE]"):
            log.warning("upstream stream ended without [DONE]; cassette kept as recorded")
        recorded = cassette_mod.Cassette(
            file="", spec=operation.spec,
            request={"method": operation.method, "path": operation.path,
                     "headers": filters.redact_headers(dict(call.headers), self.redact),
                     "body": filters.redact_body(body, self.redact)},
            response=response, recorded_at=cassette_mod.now_iso())
        replaced = cassette_mod.target(self.directory, recorded).exists()
        path = cassette_mod.save(self.directory, recorded)
        mode = call.settings.record_mode
        if replaced:
            log.warning("overwrote cassette %s with a new recording of its request (--record-mode %s)", path, mode)
        else:
            log.info("recorded %s", path)
        if modes.replays(mode) and call.registry is not None:
            call.registry.reload()  # replayed from the next request on, not after the reload interval

    def _check(self, validator: Any, document: Any, what: str, violations: list[str]) -> None:
        if validator is None:
            return
        found = validator.violation(document)
        if found is not None:
            message = f"{what} at {found.param or '(root)'}: {found.message}"
            violations.append(message)
            log.warning("upstream contract violation: %s [rule %s]", message, found.rule)

    async def _relay_stream(self, upstream: httpx.Response, operation: Operation, send: Send, started: float,
                            violations: list[str]) -> list[dict[str, Any]]:
        await send({"type": "http.response.start", "status": upstream.status_code,
                    "headers": [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]})
        events: list[dict[str, Any]] = []
        block: list[str] = []
        async for line in upstream.aiter_lines():
            if line:
                block.append(line)
                continue
            if not block:
                continue
            await send({"type": "http.response.body", "body": ("\n".join(block) + "\n\n").encode(), "more_body": True})
            data = "\n".join(l[5:].lstrip() for l in block if l.startswith("data:"))
            name = next((l[6:].strip() for l in block if l.startswith("event:")), None)
            block = []
            t = round(time.monotonic() - started, 4)
            if data == "[DONE]":
                events.append({"t": t, "data": "[DONE]"})
                continue
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                violations.append(f"event {len(events)} is not JSON")
                continue
            if name == "error" or (isinstance(chunk, dict) and "error" in chunk and "choices" not in chunk):
                # The upstream failed mid-stream: an upstream error, not a chunk.
                self._check(operation.error, chunk, "error event", violations)
                events.append({"t": t, "event": "error", "data": chunk})
                continue
            self._check(operation.chunk, chunk, f"chunk {len(events)}", violations)
            events.append({"t": t, "data": chunk})
        if block:
            await send({"type": "http.response.body", "body": ("\n".join(block) + "\n\n").encode(), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return events
