"""Test helpers: an SSE parser and an independent contract oracle.

The oracle validates what the mock sends with openapi-core, a validator the
mock itself does not use, against the spec the mock serves at /openapi/*.json:
if the mock's own validation were wrong, these checks would disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpx


@dataclass
class Event:
    event: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def parse_sse(text: str) -> list[Event]:
    """Parse an SSE body strictly: events are separated by one blank line."""
    events = []
    assert text.endswith("\n\n"), f"stream does not end with a blank line: {text[-80:]!r}"
    for block in text[:-2].split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            assert line, f"empty line inside an event block: {block!r}"
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            else:
                raise AssertionError(f"unexpected SSE line {line!r}")
        events.append(Event(name, "\n".join(data)))
    return events


def chunks_of(events: list[Event]) -> list[dict]:
    """The JSON chunks of a complete stream (asserts the [DONE] ending)."""
    assert events and events[-1].data == "[DONE]", f"stream does not end with [DONE]: {events[-1:]}"
    return [e.json() for e in events[:-1]]


class Oracle:
    """openapi-core over the served spec of one contract."""

    def __init__(self, base_url: str, name: str) -> None:
        from openapi_core import OpenAPI

        self.base_url = base_url
        self.document = httpx.get(f"{base_url}/openapi/{name}.json").json()
        self.api = OpenAPI.from_dict(self.document)

    def check_exchange(self, path: str, body: Any, response: httpx.Response) -> None:
        from openapi_core.testing import MockRequest, MockResponse

        request = MockRequest(self.base_url, "post", path, data=json.dumps(body).encode())
        kind = response.headers["content-type"].split(";")[0]
        if kind == "text/event-stream":
            for chunk in chunks_of(parse_sse(response.text)):
                self.check_chunk(path, chunk)
            return
        self.api.validate_response(request, MockResponse(response.content, response.status_code, content_type=kind))

    def check_chunk(self, path: str, chunk: dict) -> None:
        from openapi_core.validation.schemas import oas30_read_schema_validators_factory as factory

        media = self.api.spec / "paths" / path / "post" / "responses" / "200" / "content" / "text/event-stream"
        validator = factory.create(self.api.spec, media / "x-itemSchema")
        validator.validate(chunk)


@lru_cache(maxsize=None)
def oracle(base_url: str, name: str) -> Oracle:
    return Oracle(base_url, name)
