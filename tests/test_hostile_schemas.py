"""Schemas from a request (tool parameters, response_format) cannot make the mock read, fetch or hang.

Over HTTP against a real server: a ``$schema``/``$ref`` naming a local file
(whose secret must not leak), an HTTP server counting hits, a FIFO (opening
it for reading blocks until a writer comes) and a TCP port that accepts and
never answers. Each is answered with a 400 naming the keyword; nothing is
read or fetched, and a second request sent meanwhile is answered (the event
loop is not blocked). Then the generation budgets: sizes a schema demands,
integers JSON cannot carry, nesting, and ``messages: []``.

Timeouts here are failure bounds only: nothing asserts how fast an answer is.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from conftest import Server, start_server

MM = "/chat/completions"
ARK = "/v1/chat/completions"
ASK = [{"role": "user", "content": "What's the weather in Paris?"}]
PLAIN = {"stream": False, "messages": ASK}
FIXTURE = """fixtures:
  - id: structured
    match: {last_user: {contains: "[fixture]"}, response_format: true}
    response: {json: {point: [1, "a"]}}
"""


# --------------------------------------------------------------------------- the things a schema may point at

class Hits:
    """An HTTP server on 127.0.0.1 that counts every request it gets."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        hits = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                hits.append(self.path)
                body = json.dumps({"type": "object", "const": "from-the-network"}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/schema+json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Silent:
    """A TCP port that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self.connected = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)
            self.connected.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def fifo_has_reader(path: Path) -> bool:
    """True if someone holds the FIFO open for reading (a non-blocking writer's open succeeds)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return False
    os.close(fd)  # the reader sees end-of-file and gets unstuck
    return True


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own: a hang here (on a mock without the fix) must not stall the other modules."""
    tmp = tmp_path_factory.mktemp("hostile")
    (tmp / "fixtures").mkdir()
    (tmp / "fixtures" / "structured.yaml").write_text(FIXTURE)
    server = start_server(tmp, "--fixtures", str(tmp / "fixtures"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hits() -> Iterator[Hits]:
    server = Hits()
    yield server
    server.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    port = Silent()
    yield port
    port.close()


@pytest.fixture
def secret_file(tmp_path: Path) -> tuple[Path, str]:
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    path = tmp_path / "conf.json"
    path.write_text(json.dumps({"type": "object", "const": secret}))
    return path, secret


def tool(parameters: Any) -> dict[str, Any]:
    return {**PLAIN, "tool_choice": "required",
            "tools": [{"type": "function", "function": {"name": "t", "parameters": parameters}}]}


def structured(schema: Any, text: str = "Answer in JSON.") -> dict[str, Any]:
    return {"stream": False, "messages": [{"role": "user", "content": text}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}}


def post(srv: Server, body: Any, path: str = MM, timeout: float = 60) -> httpx.Response:
    return httpx.post(srv.url + path, json=body, timeout=timeout)


def refused(r: httpx.Response, param: str) -> dict[str, Any]:
    """The 400 a schema reaching outside itself gets."""
    assert r.status_code == 400, (r.status_code, r.text[:2000])
    error = r.json()["error"]
    assert error["code"] == "invalid_schema" and error["param"] == param, error
    assert "offline by design" in error["message"] and "outside the schema" in error["message"], error
    return error


def while_in_flight(srv: Server, body: Any, stuck: Callable[[], bool]) -> httpx.Response:
    """Send ``body``; as soon as it is answered or ``stuck()`` (the server is waiting on the
    target), send a plain request, which must be answered: the event loop is not blocked."""
    with ThreadPoolExecutor(1) as pool:
        pending: Future = pool.submit(post, srv, body)
        bound = time.monotonic() + 30  # failure bound: neither answered nor stuck
        while not pending.done() and not stuck() and time.monotonic() < bound:
            time.sleep(0.01)
        plain = post(srv, PLAIN, timeout=10)  # failure bound, not a timing assertion
        assert plain.status_code == 200, plain.text[:2000]
        return pending.result(timeout=60)


# --------------------------------------------------------------------------- no I/O from a request schema

def test_schema_naming_a_local_file_is_refused_without_reading_it(srv, secret_file):
    path, secret = secret_file
    r = post(srv, tool({"$schema": path.as_uri(), "type": "object", "properties": {}}))
    refused(r, "tools[0].function.parameters.$schema")
    assert secret not in r.text
    # A missing file gets the same answer: no "os error 2", no existence oracle.
    missing = post(srv, tool({"$schema": f"file:///nonexistent-{uuid.uuid4().hex}/x.json", "type": "object"}))
    refused(missing, "tools[0].function.parameters.$schema")
    assert "os error" not in missing.text.lower() and "no such file" not in missing.text.lower()
    # The same file behind $ref, deep inside, and in response_format.
    r = post(srv, tool({"type": "object", "properties": {"a": {"$ref": path.as_uri()}}}))
    refused(r, "tools[0].function.parameters.properties.a.$ref")
    r = post(srv, structured({"type": "object", "properties": {"a": {"allOf": [{"$ref": f"{path.as_uri()}#/x"}]}}}))
    refused(r, "response_format.json_schema.schema.properties.a.allOf[0].$ref")
    assert secret not in r.text


@pytest.mark.parametrize("make,param", [
    (lambda u: tool({"$schema": f"{u}/meta.json", "type": "object"}), "tools[0].function.parameters.$schema"),
    (lambda u: tool({"type": "object", "properties": {"a": {"$schema": f"{u}/nested.json", "type": "string"}}}),
     "tools[0].function.parameters.properties.a.$schema"),
    (lambda u: tool({"$ref": f"{u}/ref.json"}), "tools[0].function.parameters.$ref"),
    (lambda u: tool({"$id": f"{u}/base/", "type": "object", "properties": {"a": {"$ref": "other.json"}}}),
     "tools[0].function.parameters.properties.a.$ref"),
    (lambda u: tool({"type": "object", "properties": {"a": {"$dynamicRef": f"{u}/d.json#meta"}}}),
     "tools[0].function.parameters.properties.a.$dynamicRef"),
    (lambda u: tool({"type": "object", "properties": {"a": {"$recursiveRef": f"{u}/r.json"}}}),
     "tools[0].function.parameters.properties.a.$recursiveRef"),
    # data positions too: a local $ref may point at them, and then they are compiled as schemas
    (lambda u: tool({"type": "object", "$ref": "#/default", "default": {"$ref": f"{u}/default.json"}}),
     "tools[0].function.parameters.default.$ref"),
    (lambda u: structured({"type": "object", "properties": {"a": {"$schema": f"{u}/m.json", "type": "integer"}}},
                          "[fixture] Answer in JSON."),
     "response_format.json_schema.schema.properties.a.$schema"),
], ids=["$schema", "nested $schema", "$ref", "$id-relative $ref", "$dynamicRef", "$recursiveRef",
        "$ref inside default", "nested $schema, fixture answer"])
def test_schema_pointing_at_a_host_is_refused_without_fetching(srv, hits, make, param):
    before = len(hits.paths)
    r = post(srv, make(hits.url))
    refused(r, param)
    assert "from-the-network" not in r.text
    assert hits.paths[before:] == []


def test_schema_pointing_at_a_port_that_never_answers_does_not_block_the_loop(srv, silent):
    r = while_in_flight(srv, tool({"$schema": f"{silent.url}/never.json", "type": "object"}),
                        silent.connected.is_set)
    refused(r, "tools[0].function.parameters.$schema")
    r = while_in_flight(srv, structured({"$ref": f"{silent.url}/never.json"}), silent.connected.is_set)
    refused(r, "response_format.json_schema.schema.$ref")
    assert silent.accepted == []


def test_schema_naming_a_fifo_does_not_block_the_loop(srv, tmp_path):
    fifo = tmp_path / "schema.fifo"
    os.mkfifo(fifo)
    stuck = threading.Event()

    def reader_waiting() -> bool:
        if fifo_has_reader(fifo):  # the server opened it: unstick it, and remember
            stuck.set()
        return stuck.is_set()

    r = while_in_flight(srv, tool({"$schema": fifo.as_uri(), "type": "object"}), reader_waiting)
    refused(r, "tools[0].function.parameters.$schema")
    assert not stuck.is_set() and not fifo_has_reader(fifo)


@pytest.mark.parametrize("uri", [
    "http://json-schema.org/draft-07/schema#", "https://json-schema.org/draft-07/schema",
    "http://json-schema.org/draft-04/schema#", "http://json-schema.org/draft-06/schema#",
    "https://json-schema.org/draft/2019-09/schema", "https://json-schema.org/draft/2020-12/schema",
    "http://json-schema.org/draft/2020-12/schema#",
])
def test_well_known_drafts_and_local_references_keep_working(srv, uri):
    schema = {"$schema": uri, "type": "object", "definitions": {"city": {"type": "string", "minLength": 2}},
              "properties": {"city": {"$ref": "#/definitions/city"}, "days": {"type": "integer", "minimum": 1}},
              "required": ["city", "days"], "additionalProperties": False}
    r = post(srv, tool(schema))
    assert r.status_code == 200, r.text[:2000]
    args = json.loads(r.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    assert len(args["city"]) >= 2 and args["days"] >= 1


def test_zod_draft_07_tuple_keeps_working(srv):
    # zod-to-json-schema's draft-07 output: tuple items as an array, the "#" spelling of $schema.
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
              "properties": {"point": {"type": "array", "minItems": 2, "maxItems": 2,
                                       "items": [{"type": "number"}, {"type": "string"}]}},
              "required": ["point"], "additionalProperties": False}
    r = post(srv, structured(schema))
    assert r.status_code == 200, r.text[:2000]
    point = json.loads(r.json()["choices"][0]["message"]["content"])["point"]
    assert isinstance(point[0], (int, float)) and isinstance(point[1], str)
    r = post(srv, structured(schema, "[fixture] Answer in JSON."))
    assert r.status_code == 200, r.text[:2000]  # the fixture's json checked under draft-07 too
    assert json.loads(r.json()["choices"][0]["message"]["content"]) == {"point": [1, "a"]}


def test_request_schema_validators_load_nothing(hits):
    """The second line: a validator compiled from a request schema refuses every retrieval."""
    from mockserver import untrusted_schema

    for schema in ({"$ref": f"{hits.url}/x.json"}, {"$id": f"{hits.url}/b/", "$ref": "y.json"}):
        with pytest.raises(ValueError):
            untrusted_schema.validator(schema)
    with pytest.raises(ValueError):  # a registry crawls its documents' references when built
        untrusted_schema.registry([("urn:t", {"$ref": f"{hits.url}/z.json"})])
    untrusted_schema.validator({"properties": {"a": {"$schema": f"{hits.url}/n.json"}}})
    assert hits.paths == []


# --------------------------------------------------------------------------- budgets

@pytest.mark.parametrize("schema,path", [
    ({"type": "string", "minLength": 1_000_000_000}, "minLength"),
    ({"type": "array", "minItems": 1_000_000_000}, "minItems"),
    ({"type": "string", "minLength": 10_000_000}, "minLength"),
    ({"type": "object", "properties": {"rows": {"type": "array", "minItems": 1000,
                                                "items": {"type": "string", "minLength": 2000}}},
      "required": ["rows"]}, "properties.rows.minItems"),
    ({"type": "object", "required": ["a"], "properties": {"a": {"anyOf": [
        {"type": "string", "minLength": 5_000_000}, {"type": "array", "minItems": 5_000_000}]}}},
     "properties.a.anyOf[0].minLength"),
])
def test_schemas_demanding_too_much_are_refused_before_generating(srv, schema, path):
    for body, param in ((structured(schema), "response_format.json_schema.schema"),
                        (tool({"type": "object", "properties": {"x": schema}, "required": ["x"]}),
                         "tools[0].function.parameters")):
        r = post(srv, body)
        assert r.status_code == 400, r.text[:2000]
        error = r.json()["error"]
        assert error["code"] == "unsatisfiable_schema" and error["param"] == param, error
        assert path in error["message"] and "limits.MAX_GENERATED_BYTES" in error["message"], error
        assert "1,048,576" in error["message"], error
    assert post(srv, PLAIN, timeout=10).status_code == 200


def test_integers_beyond_64_bits_are_written_as_exact_doubles(srv):
    r = post(srv, structured({"type": "integer", "minimum": 1e308}))
    assert r.status_code == 200, r.text[:2000]
    assert json.loads(r.json()["choices"][0]["message"]["content"]) == 1e308
    r = post(srv, tool({"type": "object", "properties": {"n": {"type": "integer", "minimum": 1e300}},
                        "required": ["n"]}))
    assert r.status_code == 200, r.text[:2000]
    args = json.loads(r.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    assert args["n"] >= 1e300 and float(args["n"]).is_integer()


def nested(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def test_deeply_nested_schemas_get_a_400_naming_the_limit(srv):
    # 50 levels of properties are 101 containers: past MAX_SCHEMA_DEPTH (64), within the body's depth limit.
    r = post(srv, structured(nested(50)))
    assert r.status_code == 400, r.text[:2000]
    error = r.json()["error"]
    assert error["param"] == "response_format.json_schema.schema" and error["code"] == "invalid_schema", error
    assert "limits.MAX_SCHEMA_DEPTH" in error["message"] and "64" in error["message"], error
    # 300 levels: a 400 too, whichever depth limit (the body's or the schema's) is met first.
    r = post(srv, structured(nested(300)))
    assert r.status_code == 400, r.text[:2000]
    message = r.json()["error"]["message"].lower()
    assert "deep" in message or "depth" in message, message


@pytest.mark.parametrize("path,body", [(MM, {"messages": []}), (ARK, {"model": "m", "messages": []})])
def test_empty_messages_get_a_400(srv, path, body):
    r = post(srv, body, path=path)
    assert r.status_code == 400, r.text[:2000]
    error = r.json()["error"]
    assert error["param"] == "messages" and error["code"] == "empty_array", error
    assert "empty array" in error["message"]


def test_generation_has_a_deadline_a_size_floor_and_a_merge_depth():
    """The generator's own budgets, for every caller (the request checks, the linter, replies)."""
    from mockserver.sources.schema_instances import GenerationBudgetExceeded, generate

    schema = {"type": "array", "minItems": 50, "items": {"type": "object", "required": ["a"],
                                                         "properties": {"a": {"type": "string"}}}}
    with pytest.raises(GenerationBudgetExceeded) as info:
        generate(schema, max_seconds=-1.0)  # a deadline already past
    assert "limits.MAX_GENERATION_SECONDS" in info.value.reason
    assert len(generate(schema)) >= 50  # the default budget is ample
    with pytest.raises(GenerationBudgetExceeded) as info:
        generate({"type": "string", "minLength": 2000}, max_bytes=1000)
    assert info.value.path == "minLength" and "1,000 bytes" in info.value.reason
    # A $ref chain longer than the merge depth: a clean error, never a RecursionError.
    chain = {"$defs": {f"a{i}": {"$ref": f"#/$defs/a{i + 1}"} for i in range(2000)}, "$ref": "#/$defs/a0"}
    chain["$defs"]["a2000"] = {"type": "string"}
    with pytest.raises(GenerationBudgetExceeded):
        generate(chain)


# --- a request's own seed misses where seed 0 found an instance ------------------------------
# The schema check generates with seed 0; the reply generates with the request's seed. A
# bounded search (patterns, oneOf) or the deadline can fail for the second seed only: that
# is still the request's schema's doing, a 400 naming it, never a 500. The in-process
# server of the pytest plugin runs in this process, so the generator can be made to miss.

from mockserver.sources import schema_instances  # noqa: E402


@pytest.fixture
def only_seed_zero_generates(monkeypatch: pytest.MonkeyPatch) -> None:
    real = schema_instances.generate

    def generate(schema, *, seed=0, **options):
        if seed != 0:
            raise schema_instances.GenerationBudgetExceeded("#", "took longer than the test allows")
        return real(schema, seed=seed, **options)

    monkeypatch.setattr(schema_instances, "generate", generate)


@pytest.mark.parametrize("feature", ["tool", "response_format"])
def test_generation_that_fails_for_the_request_seed_is_a_400(chat_mock, only_seed_zero_generates, feature):
    body: dict = {"model": "m", "stream": False, "messages": [{"role": "user", "content": "hi"}]}
    if feature == "tool":
        body["tools"] = [{"type": "function", "function": {"name": "f", "parameters": {
            "type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}}}]
        body["tool_choice"] = "required"
        param = "tools[0].function.parameters"
    else:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "x", "schema": {
            "type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}}
        param = "response_format.json_schema.schema"
    resp = httpx.post(chat_mock.multimedia_base_url + "/chat/completions", json=body, timeout=30)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "unsatisfiable_schema" and error["param"] == param, error
