"""Property-based contract tests with schemathesis, over both served specs.

Each spec is loaded from the running server, i.e. *after* its errata overlay
(``/openapi/ark.json`` -> ``POST /v1/chat/completions``,
``/openapi/multimedia.json`` -> ``POST /chat/completions``), and tested in two
separate runs, one per generation mode, so that each mode gets its own budget:

* ``positive``: requests valid under the spec;
* ``negative``: requests that violate it (wrong types, missing required
  properties, values outside enums, ...; the coverage phase adds a request
  without a body and the path with each undocumented method).

Phases: ``examples`` (the spec's examples), ``coverage`` (schemathesis'
deterministic boundary/violation cases for the mode) and ``fuzzing``
(Hypothesis, ``max_examples=100``). ``test_every_run_made_enough_examples``
asserts that every run made at least 100 fuzzing examples, so at least 100
examples per operation per mode. ``stateful`` is off: one operation, no links.

Checks (``CHECKS`` below; every other built-in check is off):

* ``not_a_server_error``: no 5xx, whatever the request.
* ``status_code_conformance``: the status code is documented. The errata
  document a ``default`` response, which makes every code conform; the check
  is kept so that a spec without ``default`` is still held to its codes.
* ``content_type_conformance``: the content type is documented for the status
  (``application/json`` or ``text/event-stream`` for 200; ``application/json``
  for any error).
* ``response_schema_conformance``: the body validates against the documented
  schema (``ChatCompletionResponse`` for a 200 JSON body, ``ErrorResponse``
  for every other status), formats included. Narrowed for event streams only,
  see "SSE" below.
* ``negative_data_rejection``: every invalid request is rejected, with a 4xx:
  its expected statuses are narrowed from schemathesis' default (which also
  counts any 5xx as a rejection) to ``4XX``.
* ``positive_data_acceptance``: every valid request is answered with a 2xx,
  except a 400 whose error ``code`` is one of ``mockserver.checks.SEMANTIC_CODES``:
  requests the schema allows but that cannot be honoured (``tool_choice``
  naming no tool, an unsatisfiable tool ``parameters`` schema, audio output
  without a voice...), which the features issue requires to be 400s. A 400
  with any other code on valid data (the schema validator refusing a valid
  request) still fails the run, and every such semantic 400 is counted.
  (narrowed from the default, which also lets 401/403/404/409/429/5xx pass:
  the mock has no auth, resources or rate limits, so those would be bugs).

Not used: ``response_headers_conformance`` (no response headers documented),
``missing_required_header``/``ignored_auth`` (no header parameters, no
security), ``use_after_free``/``ensure_resource_availability``/
``object_level_authorization`` (stateful resource checks; no resources),
``max_response_time`` (timing is no part of the contract),
``unsupported_method``/``allow_header_conformance`` (about methods the specs
do not define; out of scope here).

SSE. Schemathesis cannot validate the chunks of the event streams: for OpenAPI
3.0 it reads a ``text/event-stream`` ``schema`` as the schema of each parsed
event object (``{"data": "...", "event": "message"}``), and these specs say
``schema: {type: string}``, so every event of every stream fails with "ST108
SSE event violates schema" whatever the server sends; and it does not know the
errata's ``x-itemSchema`` extension (it supports OpenAPI 3.2's ``itemSchema``).
So for a response whose content type is ``text/event-stream``, and for it
only, ``response_schema_conformance`` is left out (``_SSE_EXCLUDED``); the
other checks still run on it, and instead the stream is parsed strictly with
``helpers.parse_sse``, must end with ``data: [DONE]`` (``helpers.chunks_of``;
an ``event: error`` or a cut stream fails), and every chunk is validated
against ``x-itemSchema`` by the openapi-core oracle (``check_chunk``). The
transport reads whole streams (``max-stream-events``; its default stops after
20 events).

Every JSON answer to the documented operation is, in addition, validated by
the openapi-core oracle (``check_exchange``): a second validator, independent
of both schemathesis' and the mock's.

Determinism: Hypothesis is derandomized (``deterministic = true``, no example
database) and the seed is fixed; error feedback (learning from the server's
answers) is off, so the requests are a function of the spec alone; the mock's
content is seeded (``--seed``, default 0). Hypothesis' ``deadline`` is None
(schemathesis' default) and the too_slow/filter_too_much/data_too_large
health checks are suppressed.

pytest 9.2 note: schemathesis 4.32's lazy loader (``from_fixture``) reads
``request.node._nodeid``, which pytest 9.2 nodes no longer have; the fixture
sets it (only the sub-test labels schemathesis writes there depend on it).
"""

from __future__ import annotations

import json
import os
from collections import Counter

import httpx
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as REGISTRY
from schemathesis.generation.meta import TestPhase

from helpers import chunks_of, oracle, parse_sse
from mockserver.checks import SEMANTIC_CODES

SPECS = {"ark": "/v1/chat/completions", "multimedia": "/chat/completions"}
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
MAX_EXAMPLES = int(os.environ.get("MOCKSERVER_FUZZ_EXAMPLES", "100"))  # make fuzz: 1000
SEED = 20240611

# check name -> its configuration (expected statuses where they matter)
CHECKS: dict[str, dict] = {
    "not_a_server_error": {},
    "status_code_conformance": {},
    "content_type_conformance": {},
    "response_schema_conformance": {},
    "negative_data_rejection": {"expected-statuses": ["4XX"]},
    "positive_data_acceptance": {"expected-statuses": ["2XX"]},
}
_SSE_EXCLUDED = {"response_schema_conformance"}

# Fuzzing examples made per (spec, mode) run, and the runs that failed (their
# count means nothing: Hypothesis stops generating at the first failure).
EXAMPLES: Counter[tuple[str, str]] = Counter()
FAILED: set[tuple[str, str]] = set()
SEMANTIC_REFUSALS: Counter[str] = Counter()
ANSWERED: Counter[str] = Counter()  # 2xx answers to positive fuzzing/coverage examples, per spec


def _config(base_url: str, mode: GenerationMode) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": base_url,
            "request-timeout": 30,
            "max-stream-events": 1_000_000,
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
            "generation": {
                "mode": mode.value,
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {
                    "enabled": True,
                    "error-feedback": {"enabled": False},
                    "extra-data-sources": {"responses": False},
                },
                "stateful": {"enabled": False},
            },
            "checks": {"enabled": False, **{name: {"enabled": True, **conf} for name, conf in CHECKS.items()}},
        }
    )


@pytest.fixture(
    params=[(name, mode) for name in SPECS for mode in MODES],
    ids=[f"{name}-{mode.value}" for name in SPECS for mode in MODES],
)
def api_schema(request: pytest.FixtureRequest, server):
    name, mode = request.param
    if not hasattr(request.node, "_nodeid"):  # pytest 9.2 vs schemathesis 4.32, see the module docstring
        request.node._nodeid = request.node.nodeid
    return schemathesis.openapi.from_url(f"{server.url}/openapi/{name}.json", config=_config(server.url, mode))


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_contract(case, server):
    name = "ark" if case.operation.path == SPECS["ark"] else "multimedia"
    key = (name, case.meta.generation.mode.value if case.meta is not None else "?")
    if case.meta is not None and case.meta.phase.name == TestPhase.FUZZING:
        EXAMPLES[key] += 1
    try:
        _exchange(case, server.url, name)
    except BaseException:
        FAILED.add(key)
        raise


def _semantic_refusal(case, response) -> bool:
    """A valid request refused for a documented semantic reason (see the docstring)."""
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE or response.status_code != 400:
        return False
    try:
        code = json.loads(response.content)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return False
    return code in SEMANTIC_CODES


def _exchange(case, base_url: str, name: str) -> None:
    response = case.call()
    kind = (response.headers.get("content-type") or [""])[0].split(";")[0].strip().lower()
    names = [n for n in CHECKS if not (kind == "text/event-stream" and n in _SSE_EXCLUDED)]
    if _semantic_refusal(case, response):
        SEMANTIC_REFUSALS[name] += 1
        names.remove("positive_data_acceptance")
    elif response.status_code < 300 and case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE:
        ANSWERED[name] += 1
    case.validate_response(response, checks=REGISTRY.get_by_names(names))

    if case.method.upper() != "POST" or case.path != SPECS[name]:
        return response  # a coverage case with an undocumented method: nothing more to check
    path = SPECS[name]
    where = f"\n[{response.status_code}] {response.content[:2000]!r}\nReproduce with: {case.as_curl_command()}"
    if kind == "text/event-stream":
        assert response.status_code == 200, f"an event stream with status {response.status_code}{where}"
        try:
            for chunk in chunks_of(parse_sse(response.content.decode("utf-8"))):
                oracle(base_url, name).check_chunk(path, chunk)
        except Exception as exc:
            raise AssertionError(f"invalid event stream: {exc!r}{where}") from exc
    elif kind == "application/json":
        try:
            oracle(base_url, name).check_exchange(path, _jsonable(case.body), _as_httpx(response))
        except Exception as exc:
            raise AssertionError(f"openapi-core rejects the response: {exc!r}{where}") from exc
    return response


def _as_httpx(response) -> httpx.Response:
    headers = [(k, v) for k, values in response.headers.items() for v in values]
    return httpx.Response(response.status_code, headers=headers, content=response.content)


def _jsonable(body):
    """The oracle only needs the request to find the operation; a body JSON cannot hold is left out."""
    try:
        json.dumps(body)
    except (TypeError, ValueError):
        return None
    return body


def test_every_run_made_enough_examples():
    """Every (spec, mode) run that was selected and passed made >= MAX_EXAMPLES fuzzing examples."""
    ran = {key: count for key, count in EXAMPLES.items() if key not in FAILED}
    if not ran:
        pytest.skip("no passing schemathesis run was selected")
    short = {key: count for key, count in ran.items() if count < MAX_EXAMPLES}
    assert not short, f"runs with fewer than {MAX_EXAMPLES} fuzzing examples: {short}"


def test_valid_requests_are_answered():
    """Semantic refusals (mostly tool messages answering calls no assistant
    turn issued, which random conversations are full of) must leave enough
    200 answers for the positive runs to exercise the response path."""
    positive = {name: count for (name, mode), count in EXAMPLES.items() if mode == "positive"}
    if not positive:
        pytest.skip("no positive schemathesis run was selected")
    for name in positive:
        assert ANSWERED[name] >= 25, (name, dict(ANSWERED), dict(SEMANTIC_REFUSALS))


FEATURE_BODIES = {
    "tools, parallel": {"messages": [{"role": "user", "content": "Weather and time in Paris?"}], "stream": False,
                        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
                            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
                                  {"type": "function", "function": {"name": "get_time", "parameters": {
                                      "type": "object", "properties": {"tz": {"type": "string"}}}}}]},
    "tools, streamed": {"messages": [{"role": "user", "content": "Weather?"}], "tool_choice": "required",
                        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
                            "type": "object", "properties": {"city": {"type": "string"}}}}}]},
    "tool loop end": {"stream": False, "tools": [{"type": "function", "function": {"name": "f"}}], "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "done"}]},
    "structured": {"messages": [{"role": "user", "content": "Data"}], "response_format": {
        "type": "json_schema", "json_schema": {"name": "a", "schema": {
            "type": "object", "properties": {"n": {"type": "integer"}, "tags": {"type": "array", "items": {
                "type": "string"}}}, "required": ["n", "tags"], "additionalProperties": False}}}},
    "audio": {"messages": [{"role": "user", "content": "Speak"}], "modalities": ["text", "audio"],
              "audio": {"voice": "alloy"}, "ssml_enabled": True, "stream": False},
    "audio, streamed": {"messages": [{"role": "user", "content": "Speak"}], "modalities": ["text", "audio"],
                        "audio": {"voice": "verse"}},
    "image and audio in": {"stream": False, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": "https://example.com/cat.png"},
        {"type": "input_audio", "input_audio": {"format": "mp3", "data": "SUQzBAAAAAAAAA=="}}]}]},
}


@pytest.mark.parametrize("label", list(FEATURE_BODIES))
def test_feature_requests_conform(server, label):
    """Feature-rich requests through the same schemathesis checks and oracles."""
    api = schemathesis.openapi.from_url(f"{server.url}/openapi/multimedia.json",
                                        config=_config(server.url, GenerationMode.POSITIVE))
    case = api["/chat/completions"]["POST"].Case(body=FEATURE_BODIES[label],
                                                 media_type="application/json")
    response = _exchange(case, server.url, "multimedia")
    assert response.status_code == 200, response.content[:500]
